// The template form's ports field: "25565/TCP, 19132/UDP" ↔ Catalyst's port list.
export interface FormPort {
  internal: number;
  protocol: 'TCP' | 'UDP';
}

/** Parsed ports, or the first entry that is not a port (for the form's error). */
export function parsePorts(text: string): { ports: FormPort[] } | { bad: string } {
  const ports: FormPort[] = [];
  for (const p of text.split(/[\s,]+/).filter(Boolean)) {
    const m = /^(\d{1,5})(?:\/(tcp|udp))?$/i.exec(p);
    const n = m ? Number(m[1]) : 0;
    if (!m || n < 1 || n > 65535) return { bad: p };
    ports.push({ internal: n, protocol: (m[2]?.toUpperCase() ?? 'TCP') as 'TCP' | 'UDP' });
  }
  return { ports };
}

export const formatPorts = (ports: { internal: number; protocol: string }[]): string => ports.map((p) => `${p.internal}/${p.protocol}`).join(', ');

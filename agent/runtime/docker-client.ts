// The Docker client every agent module imports: dockerode, loaded after the stand-ins for the
// modules of its that the agent never uses (docker-unused-deps.ts).
import './docker-unused-deps.ts';
import Docker from 'dockerode';

export default Docker;

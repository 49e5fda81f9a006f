// Query: ?probe=t0,t1,...&shots=t0,t1,...  The page loads /model.glb, samples the first clip's morph
// influences at each probe time (AnimationMixer.setTime), renders one PNG per shot time and POSTs
// {meshes, targets, clips, probes, shots, console} as JSON to /result. Errors are posted too.
import * as THREE from 'three';
import { GLTFLoader } from 'three/addons/loaders/GLTFLoader.js';

const messages = [];
for (const level of ['log', 'info', 'warn', 'error']) {
  const original = console[level].bind(console);
  console[level] = (...args) => { messages.push({ level, text: args.map(String).join(' ') }); original(...args); };
}

function post(body) {
  return fetch('/result', { method: 'POST', headers: { 'Content-Type': 'application/json' },
                            body: JSON.stringify({ ...body, console: messages }) });
}
window.addEventListener('error', (e) => post({ error: `${e.message} (${e.filename}:${e.lineno})` }));
window.addEventListener('unhandledrejection', (e) => post({ error: String(e.reason && e.reason.stack || e.reason) }));

const params = new URLSearchParams(location.search);
const numbers = (key) => (params.get(key) || '').split(',').filter((s) => s !== '').map(Number);

function camera(object, width, height) {
  // Frame the object's bounding box from the front (+z looks at the face, glTF's y is up).
  const box = new THREE.Box3().setFromObject(object);
  const centre = box.getCenter(new THREE.Vector3());
  const size = box.getSize(new THREE.Vector3());
  const cam = new THREE.PerspectiveCamera(30, width / height, 0.01, 100);
  const distance = 0.6 * Math.max(size.x, size.y) / Math.tan(THREE.MathUtils.degToRad(15));
  cam.position.set(centre.x, centre.y, box.max.z + distance);
  cam.lookAt(centre);
  return cam;
}

async function main() {
  const gltf = await new GLTFLoader().loadAsync('/model.glb');
  const scene = new THREE.Scene();
  scene.background = new THREE.Color(0x202020);
  scene.add(gltf.scene);
  scene.add(new THREE.HemisphereLight(0xffffff, 0x404040, 1.5));
  const key = new THREE.DirectionalLight(0xffffff, 2.0);
  key.position.set(0.3, 0.5, 1.0);
  scene.add(key);

  const meshes = [];
  gltf.scene.traverse((o) => { if (o.isMesh) meshes.push(o); });
  const face = meshes.find((m) => m.morphTargetDictionary);
  const dictionary = face ? face.morphTargetDictionary : {};
  const targets = Object.keys(dictionary).sort((a, b) => dictionary[a] - dictionary[b]);
  const clips = gltf.animations.map((c) => ({ name: c.name, duration: c.duration, tracks: c.tracks.length }));

  const width = 512, height = 512;
  const renderer = new THREE.WebGLRenderer({ antialias: true, preserveDrawingBuffer: true });
  renderer.setSize(width, height);
  document.body.appendChild(renderer.domElement);
  const cam = camera(gltf.scene, width, height);

  const mixer = new THREE.AnimationMixer(gltf.scene);
  // Play once and hold the last frame, so a probe at the clip's end reads its last keyframe.
  const action = gltf.animations.length ? mixer.clipAction(gltf.animations[0]).setLoop(THREE.LoopOnce, 1) : null;
  if (action) action.clampWhenFinished = true;
  const pose = (t) => {
    // A finished LoopOnce action is paused and would ignore later setTime calls: restart it first.
    if (action) action.reset().play();
    mixer.setTime(t);
  };
  const probes = numbers('probe').map((t) => {
    pose(t);
    return { time: t, influences: Array.from(face ? face.morphTargetInfluences : []) };
  });
  const shots = numbers('shots').map((t) => {
    pose(t);
    renderer.render(scene, cam);
    return { time: t, png: renderer.domElement.toDataURL('image/png') };
  });
  const gl = renderer.getContext();
  const debug = gl.getExtension('WEBGL_debug_renderer_info');
  const gpu = debug ? gl.getParameter(debug.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER);
  await post({ three: THREE.REVISION, renderer: gpu, meshes: meshes.length, targets, clips, probes, shots });
}

main().catch((e) => post({ error: String(e && e.stack || e) }));

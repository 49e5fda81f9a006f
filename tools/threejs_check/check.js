// Query: ?probe=t0,t1,...&shots=t0,t1,...&drive=name,...&rotate=joint:pitch:yaw:roll,...&pose=name:w,...
// The page loads /model.glb, samples the first clip's morph influences and joint rotations at each probe
// time (AnimationMixer.setTime), renders one PNG per shot time, measures how far vertices move (skinned,
// in metres) when one target is driven to 1 by name (`drive`) or one joint is turned (`rotate`, radians,
// rotation Ry(yaw) Rx(pitch) Rz(roll)), renders one PNG of a `pose` (weights by name, plus the `rotate`
// rotations), and POSTs {meshes, targets, joints, clips, probes, shots, moves, pose, console} as JSON to
// /result. Errors are posted too.
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
  const bones = {};
  gltf.scene.traverse((o) => { if (o.isBone) bones[o.name] = o; });
  const quat = (b) => [b.quaternion.x, b.quaternion.y, b.quaternion.z, b.quaternion.w];
  const probes = numbers('probe').map((t) => {
    pose(t);
    const rot = {};
    for (const [n, b] of Object.entries(bones)) rot[n] = quat(b);
    return { time: t, influences: Array.from(face ? face.morphTargetInfluences : []), rotations: rot };
  });
  const shots = numbers('shots').map((t) => {
    pose(t);
    renderer.render(scene, cam);
    return { time: t, png: renderer.domElement.toDataURL('image/png') };
  });
  // Static checks: the clip off, everything at rest, then one target or one joint at a time.
  if (action) action.stop();
  mixer.setTime(0);
  const rest = () => {
    for (const m of meshes) if (m.morphTargetInfluences) m.morphTargetInfluences.fill(0);
    for (const b of Object.values(bones)) b.quaternion.identity();
  };
  const positions = () => {
    gltf.scene.updateMatrixWorld(true);
    const out = [];
    const v = new THREE.Vector3();
    for (const m of meshes) {
      const n = m.geometry.attributes.position.count;
      const a = new Float32Array(3 * n);
      for (let i = 0; i < n; i++) { m.getVertexPosition(i, v); v.applyMatrix4(m.matrixWorld); a.set([v.x, v.y, v.z], 3 * i); }
      out.push(a);
    }
    return out;
  };
  const moved = (before, after) => {
    let max = 0, count = 0;
    before.forEach((a, k) => { for (let i = 0; i < a.length; i += 3) {
      const d = Math.hypot(after[k][i] - a[i], after[k][i + 1] - a[i + 1], after[k][i + 2] - a[i + 2]);
      if (d > 1e-5) count++;
      max = Math.max(max, d);
    } });
    return { max, count };
  };
  const turn = (item) => {
    const [joint, p, y, r] = item.split(':');
    const b = bones[joint];
    if (!b) throw new Error(`no joint named ${joint}`);
    b.quaternion.setFromEuler(new THREE.Euler(Number(p), Number(y), Number(r), 'YXZ'));
  };
  rest();
  const still = positions();
  const list = (key) => (params.get(key) || '').split(',').filter((s) => s !== '');
  const moves = {};
  for (const name of list('drive')) {
    rest();
    let found = false;
    for (const m of meshes) {
      const k = m.morphTargetDictionary ? m.morphTargetDictionary[name] : undefined;
      if (k !== undefined) { m.morphTargetInfluences[k] = 1; found = true; }
    }
    moves[name] = found ? moved(still, positions()) : null;
  }
  for (const item of list('rotate')) {
    rest();
    turn(item);
    moves[item] = moved(still, positions());
  }
  let poseShot = null;
  if (list('pose').length) {
    rest();
    for (const item of list('pose')) {
      const [name, w] = item.split(':');
      for (const m of meshes) {
        const k = m.morphTargetDictionary ? m.morphTargetDictionary[name] : undefined;
        if (k !== undefined) m.morphTargetInfluences[k] = Number(w);
      }
    }
    for (const item of list('rotate')) turn(item);
    renderer.render(scene, cam);
    poseShot = renderer.domElement.toDataURL('image/png');
  }
  rest();
  const gl = renderer.getContext();
  const debug = gl.getExtension('WEBGL_debug_renderer_info');
  const gpu = debug ? gl.getParameter(debug.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER);
  await post({ three: THREE.REVISION, renderer: gpu, meshes: meshes.length, targets, joints: Object.keys(bones),
               clips, probes, shots, moves, pose: poseShot });
}

main().catch((e) => post({ error: String(e && e.stack || e) }));

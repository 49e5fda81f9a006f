// What `face3d view --html` pages use from three.js; build.mjs bundles it into one minified IIFE
// (the global FACE3D_THREE) so that a page needs no modules, no import map and no network.
export {
	AmbientLight, AnimationMixer, Box3, Color, DirectionalLight, HemisphereLight, LoopRepeat, Object3D,
	PerspectiveCamera, Scene, SRGBColorSpace, Vector3, WebGLRenderer, REVISION,
} from 'three';
export { GLTFLoader } from 'three/examples/jsm/loaders/GLTFLoader.js';
export { OrbitControls } from 'three/examples/jsm/controls/OrbitControls.js';

#!/usr/bin/python3
"""darknet-explain against the PyTorch peers (make bench-peers; docs/benchmarks.md).

For each model and method, one process runs darknet-explain (the Python package over
build/libdarknet-explain.so) and one runs the peer (PyTorch 1.13 as Debian ships it, with
pytorch-grad-cam, Captum or Zennit); the driver asks them for one run each in turn, alternating
which goes first, RUNS times, after one warm-up run each. Printed: the medians, ours / peer as the
median of the per-run ratios, and each process's peak resident memory (getrusage, the whole
process: library, model and method). Nothing is downloaded.

The models are the Darknet cfgs themselves (Debian's /usr/share/darknet/cfg: resnet18 and
darknet19 at 224, yolov3-tiny at 416, batch 1) with random weights written by
build/random-weights; the PyTorch side builds the same layers from the same cfg and loads the
same weights file (conv + batch norm + leaky/linear, max/avg pool, route, shortcut, upsample), so
both compute the same function: the ready line's logits say how close.

Methods (the same target on both sides: a classifier's top class's logit; yolov3-tiny: one
anchor's value at the middle cell of the coarse head):
  forward   ours: the forward alone as the library times it (timings_ms.forward of an explain
            call); peer: model(x) under torch.no_grad()
  gradcam   ours: explain(..., "gradcam") at our default layer, the whole call (letterbox of a
            photo of the network's size, forward, backward, map, bilinear map to the photo);
            peer: pytorch-grad-cam GradCAM on the same layer's module, the whole call
  saliency  ours: explain(..., "saliency"); peer: Captum Saliency
  lrp       ours: explain(..., "lrp") (epsilon-plus-flat-nobias); peer: Zennit Gradient with
            EpsilonPlusFlat and SequentialMergeBatchNorm
  ig        ours: explain(..., "ig", steps=32) from black (33 gradients, trapezoid rule); peer:
            Captum IntegratedGradients, 33 points by its riemann_trapezoid, batched (its default)
  smoothgrad ours: explain(..., "smoothgrad", samples=16); peer: Captum NoiseTunnel over
            Saliency, 16 samples of the same noise sd, batched (its default)
  scorecam  ours: explain(..., "scorecam") at our default layer (one forward per channel);
            peer: pytorch-grad-cam ScoreCAM on the same layer's module (16 masks per forward, its
            default)
  occlusion ours: explain(..., "occlusion") with a black window of 15 px every 8 px at 224 (28 px
            every 15 at 416), incremental inference; peer: Captum Occlusion, the same windows and
            zero baseline, 16 per forward. Ours also scores the last window flush with the far
            edge (28 x 28 windows at 224, 27 x 27 at 416) where Captum stops short (27 x 27,
            26 x 26): ours does 7.5% more windows

  bench_peers.py [--runs N] [--models a,b] [--methods a,b] [--threads T] [--workdir DIR]
                 [--peers-src DIR] [--mirror DIR]
The peers' sources: importable as they are, else DIR/<peer> under --peers-src (made from the
git mirrors under --mirror, at the commits below, when there). A peer that cannot be imported is
named and its methods skipped; without torch the script says so and exits 0.
"""
import argparse
import os
import re
import resource
import statistics
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CFGS = "/usr/share/darknet/cfg"
MODELS = {"resnet18": ("resnet18", 224), "darknet19": ("darknet19", 224), "yolov3-tiny": ("yolov3-tiny", 416)}
METHODS = ["forward", "gradcam", "saliency", "lrp", "ig", "smoothgrad", "scorecam", "occlusion"]
IG_STEPS, SMOOTH_SAMPLES, NOISE = 32, 16, 0.15


def occlusion_window(size):
    """the window's side and stride at a network size (Captum's own benchmark settings)"""
    return (15, 8) if size <= 224 else (28, 15)
# peer: (module to import, the methods that need it (ttach: pytorch-grad-cam imports it), mirror folder, commit, paths, the import root in them)
PEERS = {
    "pytorch-grad-cam": ("pytorch_grad_cam", ("gradcam", "scorecam"), "jacobgil+pytorch-grad-cam",
                         "084273b3f30b54ad0c64cf8020a4337d979a66e0", ["pytorch_grad_cam"], ""),
    "ttach": ("ttach", ("gradcam", "scorecam"), "qubvel+ttach", "94e579e59a21cbdfbb4f5790502e648008ecf64e", ["ttach"], ""),
    "captum": ("captum.attr", ("saliency", "ig", "smoothgrad", "occlusion"), "pytorch+captum", "faac08773131888714b15709b28494ebeea7f6eb", ["captum"], ""),
    "zennit": ("zennit", ("lrp",), "chr5tphr+zennit", "3121bb223061506834ca68abad3eefc792dea999", ["src/zennit"], "src"),
}


# ------------------------------------------------------------------ the cfg as PyTorch layers
def read_cfg(path):
    """[(section, {key: value})] in order"""
    sections = []
    for line in open(path):
        line = line.split("#")[0].strip()
        if line.startswith("["):
            sections.append((line.strip("[]"), {}))
        elif "=" in line and sections:
            k, v = line.split("=", 1)
            sections[-1][1][k.strip()] = v.strip()
    return sections


def build_torch(cfg_path, weights_path):
    """The cfg's layers as a torch module whose output is (1, K): a classifier's logits (the
    softmax left out), a detector's heads flattened and concatenated; .layers[i] is cfg layer i
    (the module pytorch-grad-cam hooks). Weights in Darknet's order (conv: biases, then with
    batch norm scales, means, variances, then the kernels)."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class Act(nn.Module):
        def __init__(self, kind):
            super().__init__()
            self.kind = kind

        def forward(self, x):
            return F.leaky_relu(x, 0.1) if self.kind == "leaky" else F.relu(x) if self.kind == "relu" else x

    class Pool(nn.Module):  # Darknet's maxpool: padding size-1 by default, split low/high, -inf
        def __init__(self, size, stride, pad):
            super().__init__()
            self.size, self.stride, self.pad = size, stride, pad

        def forward(self, x):
            lo = self.pad // 2
            x = F.pad(x, (lo, self.pad - lo, lo, self.pad - lo), value=float("-inf"))
            return F.max_pool2d(x, self.size, self.stride)

    class Lambda(nn.Module):
        def __init__(self, fn):
            super().__init__()
            self.fn = fn

        def forward(self, x):
            return self.fn(x)

    class Net(nn.Module):
        def __init__(self, sections):
            super().__init__()
            net = sections[0][1]
            c = int(net.get("channels", 3))
            self.layers, self.kinds, self.shapes = nn.ModuleList(), [], []
            shapes = []  # channels per layer
            for kind, o in sections[1:]:
                spec = None
                if kind == "convolutional":
                    n, size, stride = int(o["filters"]), int(o.get("size", 1)), int(o.get("stride", 1))
                    pad = size // 2 if int(o.get("pad", 0)) else int(o.get("padding", 0))
                    bn = int(o.get("batch_normalize", 0))
                    parts = [nn.Conv2d(c, n, size, stride, pad, bias=not bn)]
                    if bn:
                        parts.append(nn.BatchNorm2d(n, eps=1e-6))
                    parts.append(Act(o.get("activation", "logistic")))
                    m, c = nn.Sequential(*parts), n
                elif kind == "maxpool":
                    size = int(o.get("size", 1))
                    m = Pool(size, int(o.get("stride", 1)), int(o.get("padding", size - 1)))
                elif kind == "avgpool":
                    m = Lambda(lambda x: x.mean((2, 3), keepdim=True))
                elif kind == "upsample":
                    s = int(o.get("stride", 2))
                    m = Lambda(lambda x, s=s: F.interpolate(x, scale_factor=s, mode="nearest"))
                elif kind == "route":
                    spec = [int(v) for v in o["layers"].split(",")]
                    spec = [len(shapes) + v if v < 0 else v for v in spec]
                    c = sum(shapes[v] for v in spec)
                    m = nn.Identity()
                elif kind == "shortcut":
                    v = int(o["from"])
                    spec = len(shapes) + v if v < 0 else v
                    m = Act(o.get("activation", "linear"))
                elif kind in ("softmax", "yolo", "region", "cost"):
                    m = nn.Identity()
                else:
                    raise SystemExit(f"{cfg_path}: layer [{kind}] is not built here")
                self.layers.append(m)
                self.kinds.append((kind, spec))
                shapes.append(c)

        def forward(self, x):
            outs, heads = [], []
            for m, (kind, spec) in zip(self.layers, self.kinds):
                if kind == "route":
                    x = torch.cat([outs[v] for v in spec], 1)
                elif kind == "shortcut":  # Darknet's: the source sampled down to the output, common channels
                    src = outs[spec]
                    step = src.shape[2] // x.shape[2]
                    src = src[:, :, ::step, ::step]
                    k = min(src.shape[1], x.shape[1])
                    x = torch.cat([x[:, :k] + src[:, :k], x[:, k:]], 1)
                elif kind in ("yolo", "region"):
                    heads.append(x.flatten(1))
                if kind == "softmax":
                    break
                x = m(x)
                outs.append(x)
            return torch.cat(heads, 1) if heads else x.flatten(1)

    model = Net(read_cfg(cfg_path))
    with open(weights_path, "rb") as f:
        major, minor, _ = struct.unpack("3i", f.read(12))
        f.read(8 if major * 10 + minor >= 2 else 4)
        data = torch.frombuffer(bytearray(f.read()), dtype=torch.float32)
    at = 0

    def take(t):
        nonlocal at
        t.data.copy_(data[at:at + t.numel()].view_as(t))
        at += t.numel()
    with torch.no_grad():
        for m in model.layers:
            if isinstance(m, nn.Sequential):
                conv, bn = m[0], m[1] if isinstance(m[1], nn.BatchNorm2d) else None
                if bn is not None:
                    for t in (bn.bias, bn.weight, bn.running_mean, bn.running_var):
                        take(t)
                else:
                    take(conv.bias)
                take(conv.weight)
    if at != data.numel():
        raise SystemExit(f"{weights_path}: {data.numel() - at} floats left over: not this cfg's weights")
    return model.eval()


# ------------------------------------------------------------------ the two sides' processes
def photo(size):
    """the input both sides explain: a smooth colour pattern, H x W x 3 floats in [0, 1]"""
    import numpy as np
    y, x = np.mgrid[0:size, 0:size] / size
    return np.stack([x, y, 0.5 + 0.5 * np.sin(6 * x * y)], 2).astype(np.float32)


def serve(side, model, method, cfg, weights, size, layer, threads):
    """A side's process: prints "ready KEY=VALUE..." once set up and warmed up, then per "go" line
    on stdin one run's seconds and those of the forward within it (ours; nan: the peer's), and
    the peak MB at "peak"."""
    x = photo(size)
    if side == "ours":
        import darknet_explain as dx
        m = dx.Model(cfg, weights)
        opts = {"region": (size // 2 - 16, size // 2 - 16, 32, 32)} if m.is_detector else {}
        which = "gradcam" if method == "forward" else method
        window, stride = occlusion_window(size)
        opts.update({"ig": {"steps": IG_STEPS}, "smoothgrad": {"samples": SMOOTH_SAMPLES, "noise": NOISE},
                     "occlusion": {"window": window, "stride": stride}}.get(method, {}))

        def run():  # the time, and the forward's within it
            t0 = time.perf_counter()
            e = m.explain(x, which, **opts)
            t = time.perf_counter() - t0
            forward = (e.results[0] if m.is_detector else e).timings_ms["forward"] / 1e3
            return (forward if method == "forward" else t), forward
        # a classifier's top logit, to compare with the peer's (a detector's target is not the same value)
        info = f"layer={m.default_layer} logit={'-' if m.is_detector else format(m.explain(x, 'gradcam').logit, '.6g')}"
    else:
        import torch
        torch.set_num_threads(threads)
        torch.set_num_interop_threads(1)
        net = build_torch(cfg, weights)
        xt = torch.from_numpy(x.transpose(2, 0, 1).copy())[None]
        with torch.no_grad():
            out = net(xt)
        detector = any(k == "yolo" for k, _ in net.kinds)
        if detector:  # the coarse head's middle cell, anchor 0, class 0 (channel 5 of the first head)
            g = size // 32
            target = 5 * g * g + (g // 2) * g + g // 2
        else:
            target = int(out[0].argmax())
        info = f"logit={'-' if detector else format(float(out[0, target]), '.6g')}"
        if method == "forward":
            def call():
                with torch.no_grad():
                    return net(xt)
        elif method in ("gradcam", "scorecam"):
            from pytorch_grad_cam import GradCAM, ScoreCAM
            from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
            import tqdm
            tqdm.tqdm = lambda batches, **_: batches  # ScoreCAM's progress bar, on stderr between the table's lines
            cam = (GradCAM if method == "gradcam" else ScoreCAM)(model=net, target_layers=[net.layers[layer]])
            targets = [ClassifierOutputTarget(target)]

            def call():
                return cam(input_tensor=xt, targets=targets)
        elif method == "saliency":
            from captum.attr import Saliency
            sal = Saliency(net)

            def call():
                return sal.attribute(xt, target=target)
        elif method == "lrp":
            from zennit.attribution import Gradient
            from zennit.canonizers import SequentialMergeBatchNorm
            from zennit.composites import EpsilonPlusFlat
            attributor = Gradient(model=net, composite=EpsilonPlusFlat(canonizers=[SequentialMergeBatchNorm()]))
            attributor.__enter__()
            onehot = torch.zeros_like(out)
            onehot[0, target] = 1

            def call():
                return attributor(xt, onehot)[1]

        elif method == "ig":
            from captum.attr import IntegratedGradients
            ig = IntegratedGradients(net)

            def call():
                return ig.attribute(xt, baselines=torch.zeros_like(xt), target=target, n_steps=IG_STEPS + 1,
                                    method="riemann_trapezoid")
        elif method == "smoothgrad":
            from captum.attr import NoiseTunnel, Saliency
            tunnel = NoiseTunnel(Saliency(net))
            sd = NOISE * float(xt.max() - xt.min())

            def call():
                return tunnel.attribute(xt, nt_type="smoothgrad", nt_samples=SMOOTH_SAMPLES, stdevs=sd, target=target)
        elif method == "occlusion":
            from captum.attr import Occlusion
            occlusion = Occlusion(net)
            window, stride = occlusion_window(size)

            def call():
                with torch.no_grad():
                    return occlusion.attribute(xt, target=target, sliding_window_shapes=(3, window, window),
                                               strides=(3, stride, stride), baselines=0, perturbations_per_eval=16)

        def run():
            t0 = time.perf_counter()
            call()
            return time.perf_counter() - t0, float("nan")
    run()  # warm-up: first-call allocations, OpenBLAS's and oneDNN's set-up
    print("ready", info, flush=True)
    for line in sys.stdin:
        if line.strip() == "go":
            print("%.6f %.6f" % run(), flush=True)
        else:
            print(f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}", flush=True)
            return


# ------------------------------------------------------------------ the driver
def importable(module, paths):
    """None, or why module cannot be imported with paths in front (its last error line)"""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths + [os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True, env=env)
    return None if r.returncode == 0 else (r.stderr.strip().splitlines() or ["?"])[-1]


def peer_path(args):
    """PYTHONPATH entries for the peers (extracted from the mirrors when needed), and those that
    cannot be had, with why"""
    paths, missing, extracted = [], [], {}
    for name, (module, _, mirror, commit, files, root) in PEERS.items():
        if importable(module, []) is None:
            continue
        into = os.path.join(args.peers_src, name)
        repo = os.path.join(args.mirror, mirror, "repo")
        if not os.path.isdir(into) and os.path.isdir(repo):
            os.makedirs(into + ".part", exist_ok=True)
            archive = subprocess.run(["git", "--git-dir", repo, "archive", commit] + files, capture_output=True)
            if archive.returncode == 0:
                subprocess.run(["tar", "-x", "-C", into + ".part"], input=archive.stdout, check=True)
                os.rename(into + ".part", into)
        if os.path.isdir(into):
            extracted[name] = os.path.join(into, root)
        else:
            missing.append(f"{name} (no mirror to extract)")
    paths = list(extracted.values())  # the peers import each other (pytorch-grad-cam: ttach)
    for name, path in extracted.items():
        why = importable(PEERS[name][0], paths)
        if why is not None:
            missing.append(f"{name} ({why})")
    return paths, missing


def weights_for(args, name):
    cfg_name, size = MODELS[name]
    cfg = os.path.join(args.workdir, f"{name}.cfg")
    weights = os.path.join(args.workdir, f"{name}.weights")
    if not os.path.exists(weights):
        os.makedirs(args.workdir, exist_ok=True)
        text = open(os.path.join(CFGS, f"{cfg_name}.cfg")).read()
        for key, value in (("batch", 1), ("subdivisions", 1), ("width", size), ("height", size)):
            text = re.sub(rf"(?m)^\s*{key}\s*=.*$", f"{key}={value}", text)
        open(cfg, "w").write(text)
        subprocess.run([args.random_weights, cfg, weights], check=True, capture_output=True)
    return cfg, weights, size


def start(args, env, side, model, method, cfg, weights, size, layer):
    p = subprocess.Popen([sys.executable, __file__, "serve", side, model, method, cfg, weights, str(size),
                          str(layer), str(args.threads)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True, env=env)
    line = p.stdout.readline().split()
    if not line or line[0] != "ready":
        p.kill()
        raise RuntimeError(f"{side} {model} {method}: did not start")
    return p, dict(kv.split("=") for kv in line[1:])


def ask(p, word):
    p.stdin.write(word + "\n")
    p.stdin.flush()
    return [float(v) for v in p.stdout.readline().split()]


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--runs", type=int, default=3)
    a.add_argument("--models", default=",".join(MODELS))
    a.add_argument("--methods", default=",".join(METHODS))
    a.add_argument("--threads", type=int, default=1)
    a.add_argument("--workdir", default=os.path.join(ROOT, "build", "bench-peers"))
    a.add_argument("--peers-src", default=os.path.join(ROOT, "build", "bench-peers", "src"))
    a.add_argument("--mirror", default=os.path.join(ROOT, "..", ".mirror"))
    a.add_argument("--random-weights", default=os.path.join(ROOT, "build", "random-weights"))
    args = a.parse_args()
    models, methods = args.models.split(","), args.methods.split(",")
    for m in models + methods:
        if m not in MODELS and m not in METHODS:
            sys.exit(f"bench_peers.py: {m}: the models are {', '.join(MODELS)}; the methods {', '.join(METHODS)}")
    if subprocess.run([sys.executable, "-c", "import torch"], capture_output=True).returncode != 0:
        print("bench-peers: no PyTorch for", sys.executable, "(Debian's python3-torch): nothing measured")
        return 0
    paths, missing = peer_path(args)
    if missing:
        print("bench-peers: peers missing:", ", ".join(missing))
    skipped = {method for p in missing for method in PEERS[p.split(" ")[0]][1]}
    # threads: OpenBLAS's and the workers' (DX_THREADS: IG's, SmoothGrad's, occlusion's) on our side,
    # torch's intra-op on the peer's
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(args.threads), DX_THREADS=str(args.threads), PYTHONWARNINGS="ignore",
               PYTHONPATH=os.pathsep.join([os.path.join(ROOT, "python")] + paths +
                                          [os.environ.get("PYTHONPATH", "")]))
    import torch
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, load "
          f"{os.getloadavg()[0]:.1f}; torch {torch.__version__}, {args.threads} thread(s) each side; "
          f"{args.runs} alternating runs")
    print("model | method | ours ms | peer ms | ours / peer | ours peak MB | peer peak MB | logits ours, peer")
    print("---|---|---|---|---|---|---|---")
    for model in models:
        cfg, weights, size = weights_for(args, model)
        ours_ms = {}  # method: median over runs of ours' call / the forward within it
        for method in methods:
            if method in skipped:
                print(f"{model} | {method} | | | peer missing | | |")
                continue
            ours, oi = start(args, env, "ours", model, method, cfg, weights, size, 0)
            peer, pi = start(args, env, "peer", model, method, cfg, weights, size, int(oi["layer"]))
            t = {"ours": [], "peer": []}
            within = []  # ours: the call over the forward inside it
            for r in range(args.runs):
                order = [("ours", ours), ("peer", peer)][:: 1 if r % 2 == 0 else -1]
                for side, p in order:
                    took, forward = ask(p, "go")
                    t[side].append(took)
                    if side == "ours":
                        within.append(took / forward)
            ratio = statistics.median(o / p for o, p in zip(t["ours"], t["peer"]))
            peaks = [ask(p, "peak")[0] for p in (ours, peer)]
            for p in (ours, peer):
                p.wait()
            ours_ms[method] = statistics.median(within)
            print(f"{model} | {method} | {1e3 * statistics.median(t['ours']):.1f} | "
                  f"{1e3 * statistics.median(t['peer']):.1f} | {ratio:.2f} | {peaks[0]:.0f} | {peaks[1]:.0f} | "
                  f"{oi['logit']}, {pi['logit']}", flush=True)
        if "gradcam" in ours_ms:  # within the same calls: the machine's load cancels
            print(f"{model} | ours: Grad-CAM call / its forward | {ours_ms['gradcam']:.2f} | | | | |")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        s = sys.argv[2:]
        serve(s[0], s[1], s[2], s[3], s[4], int(s[5]), int(s[6]), int(s[7]))
    else:
        sys.exit(main())

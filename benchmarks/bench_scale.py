"""The papers' scale: CED-Base + SONAR basic (the published shapes, 855 M parameters with the projection heads,
the full 256,206-row token table),
built at random, taking real AdamW steps at ML-CLAP's and ATRI's batch of 24.

Each case is one objective and one way of spending memory:
- `infonce` (ML-CLAP's LE: one caption per clip; LE differs only in which caption the sampler draws), `cacl` (an
  English and a translated caption per clip), `kcl` (all K = 8 languages per clip);
- `--text-chunk N` / `--audio-chunk N`: gradient caching (`cached_embed`), N captions / clips recomputed at a time;
- `--activation-checkpointing`: the CED blocks and SONAR layers recompute their activations during backward.

A step is what `mlatr-train` does: forward both towers (mel frontend included, BatchNorm statistics frozen), the
objective's loss over the batch, backward, gradient clipping at 1, AdamW, zero_grad. Clips are random noise of
`--clip-seconds` (10: AudioCaps, one CED chunk; 30: Clotho, three chunks) and captions random token ids of
`--caption-tokens` (20: a ten-word English caption with its language tag and end token). Dropout is SONAR's 0.1.

What it prints per case:
- peak memory: on the CPU the process's peak resident set (ru_maxrss, weights, gradients, AdamW states, activations,
  allocator and Python all included), with the weights-only figure after the model is built; on a GPU
  `torch.cuda.max_memory_allocated`. A watchdog thread stops a CPU case whose resident set passes `--max-rss-gb`
  (default 21, below this 24 GB machine's RAM) and reports where (build, forward, backward, optimizer);
- seconds per step and examples (clips) per second, over `--steps` steps after one warm-up step;
- FLOPs of a step, counted by `torch.utils.flop_counter` on the warm-up step: "executed" (recomputation included) and
  "model" (3 x the forward's, the convention MFU uses), and the share of the device's peak they reach: on the CPU the
  theoretical FP32 peak from lscpu (cores x MHz x 64 FLOP/cycle with AVX-512's two FMA units, 32 with AVX2) and a
  measured 4096-square matmul; on a GPU the card's dense BF16 peak. Checkpointed cases are not counted: under
  FlopCounterMode the recomputed activations stayed alive past the backward (6 GB at the published size, enough to
  stop the case at 21 GB), so counting would falsify their memory; their model FLOPs are those of the same case
  without checkpointing.

With no case flags it runs the table: the three objectives plain, KCL cached (text chunks of 24, and then audio chunks
of 8 too), each with and without activation checkpointing, at 10 s and 30 s. On the CPU every case runs in its own
process (its own peak); on a GPU in one process, resetting the peak between cases, followed by KCL with
`--mixed-precision bf16`, with fused AdamW, with `torch.compile` on both towers, after a check of which
scaled_dot_product_attention kernel runs for CED's masked attention and SONAR's padded attention. On this 2-core CPU a
case takes 2-5 minutes, so the whole table about 80; the figures in the training chapter are single cases run with
`--malloc mmap`, which the CPU needs for KCL to fit (see `--malloc`).

Run: python benchmarks/bench_scale.py [--device cpu|cuda] [--objective kcl] [--clip-seconds 10] [--text-chunk 24]
       [--audio-chunk 8] [--activation-checkpointing] [--mixed-precision bf16] [--compile] [--fused-adam] [--steps N] [--json]
"""
import argparse, json, os, resource, subprocess, sys, threading, time
from contextlib import nullcontext

GIB = 2 ** 30
BATCH = 24            # ML-CLAP and ATRI
KCL_LANGS = 8         # ATRI's K
SLOTS = dict(infonce=1, cacl=2, kcl=KCL_LANGS)
GPU_BF16_PEAK = {'H100 SXM': 989e12, 'H100 80GB HBM3': 989e12, 'H100 NVL': 835e12, 'H100 PCIe': 756e12, 'H200': 989e12,
                 'GH200': 989e12, 'A100': 312e12, 'L40S': 362e12, 'A10G': 70e12, 'L4': 121e12}   # dense, no sparsity


def table_cases(device: str) -> list[dict]:
    "The default table: objectives x memory switches x clip lengths."
    cases = []
    for seconds in (10, 30):
        for ckpt in (False, True):
            cases += [dict(objective='infonce', clip_seconds=seconds, activation_checkpointing=ckpt),
                      dict(objective='cacl', clip_seconds=seconds, activation_checkpointing=ckpt),
                      dict(objective='kcl', clip_seconds=seconds, activation_checkpointing=ckpt),
                      dict(objective='kcl', clip_seconds=seconds, activation_checkpointing=ckpt, text_chunk=24),
                      dict(objective='kcl', clip_seconds=seconds, activation_checkpointing=ckpt, text_chunk=24, audio_chunk=8)]
    if device == 'cuda':
        kcl = dict(objective='kcl', clip_seconds=10)
        cases += [dict(kcl, mixed_precision='bf16'), dict(kcl, mixed_precision='bf16', fused_adam=True),
                  dict(kcl, mixed_precision='bf16', fused_adam=True, compile=True)]
    return cases


def case_name(c: dict) -> str:
    parts = [c['objective'] + (f" K={KCL_LANGS}" if c['objective'] == 'kcl' else ''), f"{c['clip_seconds']:g} s"]
    if c.get('text_chunk'): parts.append(f"text chunk {c['text_chunk']}")
    if c.get('audio_chunk'): parts.append(f"audio chunk {c['audio_chunk']}")
    if c.get('activation_checkpointing'): parts.append('checkpointing')
    if c.get('mixed_precision', 'no') != 'no': parts.append(c['mixed_precision'])
    if c.get('fused_adam'): parts.append('fused AdamW')
    if c.get('compile'): parts.append('compiled')
    return ', '.join(parts)


# ---------------------------------------------------------------- the device's peak

def cpu_peak_flops() -> tuple[float | None, str]:
    "Theoretical FP32 peak of this CPU from lscpu: physical cores x max MHz x FLOP/cycle."
    try: out = subprocess.run(['lscpu'], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError): return None, 'lscpu unavailable'
    info = dict(l.split(':', 1) for l in out.splitlines() if ':' in l)
    info = {k.strip(): v.strip() for k, v in info.items()}
    cores = int(info.get('Core(s) per socket', 1)) * int(info.get('Socket(s)', 1))
    mhz = float(info.get('CPU max MHz') or info.get('CPU MHz') or 0) or None
    if mhz is None:
        try: mhz = float(next(l.split(':')[1] for l in open('/proc/cpuinfo') if l.startswith('cpu MHz')))
        except (OSError, StopIteration): return None, 'clock unknown'
    flags = info.get('Flags', '')
    per_cycle = 64 if 'avx512f' in flags else 32 if 'avx2' in flags else 16
    return cores * mhz * 1e6 * per_cycle, f"{cores} cores x {mhz:.0f} MHz x {per_cycle} FLOP/cycle"


def measured_matmul_flops(device: str, dtype) -> float:
    import torch
    n = 4096
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    sync = torch.cuda.synchronize if device == 'cuda' else (lambda: None)
    a @ b; sync()
    reps, t0 = (3 if device == 'cpu' else 50), time.perf_counter()
    for _ in range(reps): a @ b
    sync()
    return reps * 2 * n ** 3 / (time.perf_counter() - t0)


def gpu_peak_flops() -> tuple[float | None, str]:
    import torch
    name = torch.cuda.get_device_name()
    for key, peak in GPU_BF16_PEAK.items():
        if all(w in name for w in key.split()): return peak, f"{name}, dense BF16 {peak / 1e12:.0f} TFLOP/s (datasheet)"
    return None, f"{name}: no datasheet peak known here"


# ---------------------------------------------------------------- memory watchdog (CPU)

def rss_bytes() -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS:'): return int(line.split()[1]) * 1024
    return 0


class Watchdog(threading.Thread):
    "Ends the process (exit 3) as soon as its resident set passes `limit`, printing the phase it was in."
    def __init__(self, limit: float):
        super().__init__(daemon=True)
        self.limit, self.phase, self.peaks = limit, 'start', {}
    def run(self):
        while True:
            rss, phase = rss_bytes(), self.phase
            self.peaks[phase] = max(self.peaks.get(phase, 0), rss)
            if rss > self.limit:
                print(json.dumps(dict(exceeded=True, phase=phase, rss_gb=rss / GIB,
                                      phase_peaks_gb={k: round(v / GIB, 2) for k, v in self.peaks.items()})), flush=True)
                os._exit(3)
            time.sleep(0.05)


# ---------------------------------------------------------------- one case

def register_cpu_attention_flops():
    "flop_counter counts the GPU attention kernels; count the CPU's flash kernel with the same formulas."
    import torch
    from torch.utils import flop_counter as fc
    aten = torch.ops.aten
    def forward(q, k, v, *args, out_shape=None, **kwargs): return fc.sdpa_flop_count(q, k, v)
    def backward(grad, q, k, v, *args, out_shape=None, **kwargs): return fc.sdpa_backward_flop_count(grad, q, k, v)
    for name, formula in (('_scaled_dot_product_flash_attention_for_cpu', forward),
                          ('_scaled_dot_product_flash_attention_for_cpu_backward', backward)):
        op = getattr(aten, name, None)
        if op is not None and op not in fc.flop_registry: fc.register_flop_formula(op)(formula)


def build_model(device: str, audio_size: str = 'base', text_size: str = 'basic'):
    "A dual encoder of the given tower sizes at random init ('base' and 'basic': the published ML-CLAP)."
    import torch
    from mlatr_nb.ced import ced_config
    from mlatr_nb.model import MLCLAP
    from mlatr_nb.sonar import sonar_config
    with torch.device(device):
        return MLCLAP(audio=ced_config(audio_size, with_head=False), text=sonar_config(text_size))


def make_batch(c: dict, device: str, vocab: int):
    import torch
    g = torch.Generator().manual_seed(0)
    samples = int(c['clip_seconds'] * 16_000)
    waves = 0.1 * torch.randn(BATCH, samples, generator=g)
    lengths = torch.full((BATCH,), samples)
    slots = SLOTS[c['objective']]
    ids = torch.randint(4, vocab, (slots * BATCH, c['caption_tokens']), generator=g)
    mask = torch.ones_like(ids)
    return [t.to(device) for t in (waves, lengths, ids, mask)]


def run_case(c: dict, model=None, watchdog=None) -> dict:
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    from mlatr_nb.train import objective_loss
    device = c['device']
    set_phase = (lambda p: setattr(watchdog, 'phase', p)) if watchdog else (lambda p: None)
    t_build = time.perf_counter()
    set_phase('build')
    if model is None: model = build_model(device, c['audio_size'], c['text_size'])
    build_s = time.perf_counter() - t_build
    model.train(); model.audio_tower.init_bn.eval()        # mlatr-train's frozen mel statistics
    model.set_activation_checkpointing(bool(c.get('activation_checkpointing')))
    if c.get('compile'):
        model.audio_tower.compile(); model.text_tower.compile()
    weights_rss = rss_bytes() if device == 'cpu' else None
    waves, lengths, ids, mask = make_batch(c, device, model.config.text.vocab_size)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, weight_decay=0.01, fused=bool(c.get('fused_adam')) or None)
    clips = torch.arange(BATCH, device=device)
    autocast = torch.autocast(device, dtype=torch.bfloat16, enabled=c.get('mixed_precision') == 'bf16')
    sync = torch.cuda.synchronize if device == 'cuda' else (lambda: None)
    if device == 'cuda': torch.cuda.reset_peak_memory_stats()
    flops = {}

    def step(count: bool):
        with FlopCounterMode(display=False) if count else nullcontext() as fwd:
            set_phase('forward')
            with autocast:
                out = model(waves, lengths, ids, mask, audio_chunk=c.get('audio_chunk'), text_chunk=c.get('text_chunk'))
                text = out.text.reshape(SLOTS[c['objective']], BATCH, -1)
                loss = objective_loss(c['objective'], out.audio, text, clips, out.tau)
        if count: flops['forward'] = fwd.get_total_flops()
        with FlopCounterMode(display=False) if count else nullcontext() as bwd:
            set_phase('backward')
            loss.backward()
            value = float(loss.detach())
            del out, text, loss                             # the graph: checkpointing keeps recomputed tensors in it
            set_phase('optimizer')
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step(); opt.zero_grad(set_to_none=True)
        if count: flops['backward'] = bwd.get_total_flops()
        sync()
        return value

    t0 = time.perf_counter()
    first_loss = step(count=c.get('count_flops', True))   # warm-up: allocations, kernels, compilation; FLOPs counted
    warmup_s = time.perf_counter() - t0
    times = []
    for _ in range(c['steps']):
        t0 = time.perf_counter(); step(count=False); times.append(time.perf_counter() - t0)
    set_phase('done')
    sec = sorted(times)[len(times) // 2]                    # median step
    if not flops: flops = dict(forward=0, backward=0)
    executed = flops['forward'] + flops['backward']
    res = dict(case=case_name(c), **{k: c.get(k) for k in ('objective', 'clip_seconds', 'text_chunk', 'audio_chunk',
                                                            'activation_checkpointing', 'mixed_precision', 'fused_adam', 'compile')},
               device=device, batch=BATCH, captions=SLOTS[c['objective']] * BATCH, build_s=build_s, warmup_s=warmup_s,
               step_s=sec, step_s_all=times, examples_per_s=BATCH / sec, executed_flops=executed,
               model_flops=3 * flops['forward'], loss=first_loss)
    if device == 'cpu':
        res['peak_rss_gb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB
        if watchdog: res['phase_peaks_gb'] = {k: round(v / GIB, 2) for k, v in watchdog.peaks.items()}
        res['weights_rss_gb'] = weights_rss / GIB
    else:
        res['peak_cuda_gb'] = torch.cuda.max_memory_allocated() / GIB
    return res


def sdpa_kernels(model, device: str) -> dict[str, list[str]]:
    "Which scaled_dot_product_attention kernels run in one forward of each tower (bf16 autocast on a GPU), by profiler."
    import torch
    from torch.profiler import ProfilerActivity, profile
    out = {}
    waves = 0.1 * torch.randn(2, 80_000, device=device)
    lengths = torch.tensor([80_000, 40_000], device=device)               # padding: CED masks the shorter clip
    ids = torch.randint(4, min(1000, model.config.text.vocab_size), (4, 20), device=device)
    mask = torch.ones_like(ids); mask[1:, 12:] = 0                          # padded captions
    with torch.autocast(device, dtype=torch.bfloat16, enabled=device == 'cuda'):
        for name, fn in (('CED (masked audio)', lambda: model.encode_audio(waves, lengths)),
                         ('SONAR (padded text)', lambda: model.encode_text(ids, mask))):
            with profile(activities=[ProfilerActivity.CPU]) as prof: fn()
            out[name] = sorted({e.name for e in prof.events() if e.name.startswith('aten::_') and 'attention' in e.name})
    return out


# ---------------------------------------------------------------- report

def fmt_row(r: dict, peak: float | None, matmul: float | None) -> str:
    if r.get('exceeded'):
        return f"| {r['case']} | > {r['limit_gb']:.0f} GB (stopped in {r['phase']}) | | | | |"
    if r.get('error'):
        return f"| {r['case']} | failed: {r['error'][:120]} | | | | |"
    mem = (f"{r['peak_rss_gb']:.1f} GB (after build {r['weights_rss_gb']:.1f})" if 'peak_rss_gb' in r else f"{r['peak_cuda_gb']:.1f} GB")
    if not r['executed_flops']:
        return f"| {r['case']} | {mem} | {r['step_s']:.2f} | {r['examples_per_s']:.2f} | not counted | |"
    rate = r['executed_flops'] / r['step_s']
    share = []
    if peak: share.append(f"{100 * rate / peak:.0f} % of peak")
    if matmul: share.append(f"{100 * rate / matmul:.0f} % of matmul")
    if r['device'] == 'cuda' and peak: share.append(f"MFU {100 * r['model_flops'] / r['step_s'] / peak:.1f} %")
    return (f"| {r['case']} | {mem} | {r['step_s']:.2f} | {r['examples_per_s']:.2f} | "
            f"{r['executed_flops'] / 1e12:.1f} ({r['model_flops'] / 1e12:.1f}) | {rate / 1e12:.3f} TFLOP/s, {', '.join(share)} |")


HEADER = ("| case | peak memory | s/step | clips/s | TFLOP per step, executed (model) | achieved |\n"
          "|---|---|---|---|---|---|")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--device', default='cpu', choices=['cpu', 'cuda'], help='where the steps run (default: cpu)')
    p.add_argument('--objective', choices=list(SLOTS), help='run one case with this objective (default: the whole table)')
    p.add_argument('--audio-size', default='base', choices=['tiny', 'mini', 'small', 'base'], help='CED size (default: base, the published)')
    p.add_argument('--text-size', default='basic', choices=['tiny', 'small', 'basic'], help='SONAR size (default: basic, the published)')
    p.add_argument('--clip-seconds', type=float, default=10, help='clip length: 10 (AudioCaps) or 30 (Clotho) (default: 10)')
    p.add_argument('--caption-tokens', type=int, default=20, help='tokens per caption, language tag and end included (default: 20)')
    p.add_argument('--text-chunk', type=int, help='gradient caching: captions per recomputed chunk')
    p.add_argument('--audio-chunk', type=int, help='gradient caching: clips per recomputed chunk')
    p.add_argument('--activation-checkpointing', action='store_true', help='recompute the towers\' blocks during backward')
    p.add_argument('--mixed-precision', default='no', choices=['no', 'bf16'], help='autocast dtype (default: no)')
    p.add_argument('--compile', action='store_true', help='torch.compile both towers')
    p.add_argument('--fused-adam', action='store_true', help="AdamW's fused kernel")
    p.add_argument('--steps', type=int, help='timed steps after the warm-up (default: 1 on the CPU, 5 on a GPU)')
    p.add_argument('--max-rss-gb', type=float, default=21, help='stop a CPU case whose resident memory passes this (default: 21)')
    p.add_argument('--malloc', default='default', choices=['default', 'mmap'], help="CPU: glibc's malloc as it comes, or "
                   "'mmap': every block of 64 KiB or more mapped on its own and given back on free (MALLOC_MMAP_THRESHOLD_=65536), "
                   "so freed activations do not stay resident (default: default)")
    p.add_argument('--threads', type=int, help='torch threads on the CPU (default: torch\'s own)')
    p.add_argument('--no-flop-count', action='store_true', help='skip counting FLOPs on the warm-up step')
    p.add_argument('--json', action='store_true', help='print one JSON object per case instead of the table')
    p.add_argument('--one', action='store_true', help=argparse.SUPPRESS)   # a child process running one case
    a = p.parse_args(argv)
    import torch
    if a.threads: torch.set_num_threads(a.threads)
    if a.device == 'cuda' and not torch.cuda.is_available(): p.error('--device cuda: no CUDA device here')
    steps = a.steps if a.steps is not None else (1 if a.device == 'cpu' else 5)
    common = dict(device=a.device, caption_tokens=a.caption_tokens, steps=steps, audio_size=a.audio_size, text_size=a.text_size)
    given = dict(objective=a.objective, clip_seconds=a.clip_seconds, text_chunk=a.text_chunk, audio_chunk=a.audio_chunk,
                 activation_checkpointing=a.activation_checkpointing, mixed_precision=a.mixed_precision,
                 compile=a.compile, fused_adam=a.fused_adam, count_flops=not (a.no_flop_count or a.activation_checkpointing))
    register_cpu_attention_flops()

    if a.one:                                              # child: one case, one JSON line
        watchdog = Watchdog(a.max_rss_gb * GIB); watchdog.start()
        print(json.dumps(run_case(dict(given, **common), watchdog=watchdog)), flush=True)
        return 0

    cases = [dict(given)] if a.objective else table_cases(a.device)
    if a.device == 'cpu':
        peak, peak_note = cpu_peak_flops()
        matmul = measured_matmul_flops('cpu', torch.float32)
        print(f"device: CPU, {torch.get_num_threads()} threads, malloc {a.malloc}; FP32 peak {peak / 1e9:.0f} GFLOP/s ({peak_note}); "
              f"measured 4096^2 matmul {matmul / 1e9:.0f} GFLOP/s", flush=True)
    else:
        peak, peak_note = gpu_peak_flops()
        matmul = measured_matmul_flops('cuda', torch.bfloat16)
        print(f"device: {peak_note}; measured BF16 4096^2 matmul {matmul / 1e12:.0f} TFLOP/s; "
              f"FP32 matmuls use TF32: {torch.backends.cuda.matmul.allow_tf32}", flush=True)
    print(f"batch {BATCH}, captions of {a.caption_tokens} tokens, {steps} timed step(s) after one warm-up", flush=True)
    if not a.json: print(HEADER, flush=True)
    results, model = [], None
    if a.device == 'cuda':                                  # before any case compiles the towers
        model = build_model('cuda', a.audio_size, a.text_size)
        for tower, kernels in sdpa_kernels(model, 'cuda').items(): print(f"attention in {tower}: {', '.join(kernels) or 'none found'}")
    for c in cases:
        c = dict(c, **common); c.setdefault('clip_seconds', a.clip_seconds)
        c.setdefault('count_flops', not (a.no_flop_count or c.get('activation_checkpointing')))
        if a.device == 'cpu':
            flags = ['--one', '--device', 'cpu', '--objective', c['objective'], '--clip-seconds', str(c['clip_seconds']),
                     '--caption-tokens', str(a.caption_tokens), '--audio-size', a.audio_size, '--text-size', a.text_size, '--steps', str(steps), '--max-rss-gb', str(a.max_rss_gb),
                     *(['--threads', str(a.threads)] if a.threads else [])]
            for k in ('text_chunk', 'audio_chunk'):
                if c.get(k): flags += [f"--{k.replace('_', '-')}", str(c[k])]
            if c.get('activation_checkpointing'): flags.append('--activation-checkpointing')
            if not c.get('count_flops', True): flags.append('--no-flop-count')
            env = dict(os.environ, **({'MALLOC_MMAP_THRESHOLD_': '65536'} if a.malloc == 'mmap' else {}))
            proc = subprocess.run([sys.executable, __file__, *flags], capture_output=True, text=True, env=env)
            lines = [json.loads(l) for l in proc.stdout.splitlines() if l.startswith('{')]
            if lines and lines[-1].get('exceeded'): r = dict(lines[-1], case=case_name(c), limit_gb=a.max_rss_gb)
            elif proc.returncode == 0 and lines: r = lines[-1]
            else: r = dict(case=case_name(c), error=(proc.stderr.strip().splitlines() or ['no output'])[-1])
        else:
            try:
                if model is None or c.get('compile'): model = build_model('cuda', a.audio_size, a.text_size)   # compiling changes the towers
                r = run_case(c, model)
            except torch.OutOfMemoryError as e:
                r = dict(case=case_name(c), error=f"CUDA out of memory: {str(e).splitlines()[0]}")
            except Exception as e:                          # e.g. a compile failure: report it, go on
                r = dict(case=case_name(c), error=f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
            if model is not None: model.zero_grad(set_to_none=True)   # a failed case may leave its gradients
            torch.cuda.empty_cache()
        results.append(r)
        print(json.dumps(r) if a.json else fmt_row(r, peak, matmul), flush=True)
    with torch.device('meta'): n = sum(p.numel() for p in build_model('meta', a.audio_size, a.text_size).parameters())
    print(f"\n{n / 1e6:.0f} M parameters: weights, gradients and AdamW's two states take {16 * n / GIB:.1f} GB in float32 "
          f"before any activation ({4 * n / GIB:.1f} GB each)", flush=True)
    return 0


if __name__ == '__main__':
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    sys.exit(main())

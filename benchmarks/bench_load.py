"""Loading published-size models: time and peak memory to load CED-base + SONAR basic (851M parameters, 3.4 GB in
float32) from a saved random checkpoint, in both layouts and from the two towers' own files, before and after loading
without initialisation.

Layouts: this library's `save_pretrained` folder (`model.safetensors`) and ML-CLAP's released `.pt` layout
(`save_mlclap_checkpoint`, as `pretrain.pt`). For each, in a fresh process per measurement:

* reading the file: `safetensors.torch.load_file`, and `torch.load` of the `.pt` (the floor any loader pays);
* before: build the model the ordinary way (every weight initialised), then load the file into it strictly;
* after: `MLCLAP.from_pretrained(folder)` and `MLCLAP.from_mlclap_checkpoint(file)`: parameters built on the meta
  device and the file's tensors taken as they are.

And from the published towers' own files (CED-base as `model.safetensors` in the Hugging Face layout, SONAR as a
transformers-layout folder), the start of every fine-tuning run:

* reading the files: `load_file` of both (the floor);
* before: the way `MLCLAP.from_towers` worked until 2026-12-03: a SONAR tower built with random weights and loaded,
  then a whole dual encoder built with random weights, its CED loaded and its text tower replaced by the loaded one;
* after: `MLCLAP.from_towers(ced_file, sonar_folder)`: both towers built on the meta device and the files' tensors
  taken as they are; only the projection heads are initialised.

Each measurement reports the wall time of the load call followed by one pass over every tensor (safetensors and
memory-mapped `torch.load` hand out tensors before reading them, so without the pass a lazy loader would look free),
and its peak resident memory above what the process held before it (imports included in neither). Files are read once beforehand, so every figure is with a warm page cache.
Goals: loading at most 1.5x the time of reading the file, peak memory at most 1.3x the weights.

Run: python benchmarks/bench_load.py [--dir DIR] [--repeats 2] [--cases 'after, folder' ...]
"""
import argparse, os, shutil, subprocess, sys, tempfile, textwrap, time
from pathlib import Path

p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
p.add_argument('--dir', help='where to write the two checkpoints (default: a temporary folder, deleted afterwards)')
p.add_argument('--repeats', type=int, default=2, help='runs of each measurement (default 2); the table gives each')
p.add_argument('--cases', nargs='+', help='measure only these (e.g. "after, towers"); default: all nine')
args = p.parse_args()
root = Path(args.dir) if args.dir else Path(tempfile.mkdtemp())
root.mkdir(parents=True, exist_ok=True)

MEASURE = textwrap.dedent('''
    import os, resource, sys, time
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    import torch
    from safetensors.torch import load_file
    from mlatr_nb.model import MLCLAP, MLCLAPConfig, convert_mlclap_state_dict
    from mlatr_nb.ced import load_ced_checkpoint
    from mlatr_nb.sonar import SonarTextTower, SonarTokenizer, _sonar_config_from_m2m100
    import accelerate, transformers.models.m2m_100.modeling_m2m_100   # imported lazily on first use: not load time
    def rss_mib():
        with open('/proc/self/status') as f: return next(int(l.split()[1]) for l in f if l.startswith('VmRSS')) / 1024
    folder, pt, case = sys.argv[1], sys.argv[2], sys.argv[3]
    ced, sonar = str(os.path.dirname(folder)) + '/ced-base.safetensors', str(os.path.dirname(folder)) + '/sonar-basic'
    before = rss_mib()
    t0 = time.perf_counter()
    if case == 'read safetensors': obj = load_file(folder + '/model.safetensors')
    elif case == 'read .pt': obj = torch.load(pt, map_location='cpu', weights_only=True)
    elif case == 'before, folder':
        obj = MLCLAP(MLCLAPConfig.from_json_file(folder + '/config.json'))
        obj.load_file_state_dict(load_file(folder + '/model.safetensors'))
    elif case == 'after, folder': obj = MLCLAP.from_pretrained(folder)
    elif case == 'before, .pt':
        obj = MLCLAP(MLCLAPConfig())
        obj.load_file_state_dict(convert_mlclap_state_dict(torch.load(pt, map_location='cpu', weights_only=True)))
    elif case == 'after, .pt': obj = MLCLAP.from_mlclap_checkpoint(pt)
    elif case == 'read towers': obj = load_file(ced) | load_file(sonar + '/model.safetensors')
    elif case == 'before, towers':
        import json
        text = SonarTextTower(_sonar_config_from_m2m100(json.load(open(sonar + '/config.json')), sonar))
        text.load_weights(load_file(sonar + '/model.safetensors')); text.set_tokenizer(SonarTokenizer.from_pretrained(sonar))
        obj = MLCLAP(MLCLAPConfig(text=text.config), tokenizer=text.tokenizer)
        load_ced_checkpoint(obj.audio_tower, ced); obj.text_tower = text
    elif case == 'after, towers': obj = MLCLAP.from_towers(ced, sonar)
    tensors = obj.values() if isinstance(obj, dict) else [*obj.parameters(), *obj.buffers()]
    for t in tensors: t.detach().sum()     # read every byte: safetensors and mmap hand out tensors before reading them
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f'{seconds:.2f} {peak - before:.0f}')
''')

try:
    folder, pt, ced, sonar = root/'mlclap-base', root/'pretrain.pt', root/'ced-base.safetensors', root/'sonar-basic'
    if not all(f.exists() for f in (folder/'config.json', pt, ced, sonar/'config.json')):
        setup = textwrap.dedent(f'''
            import time, torch
            from mlatr_nb.model import MLCLAP, save_mlclap_checkpoint
            from mlatr_nb.ced import save_ced_checkpoint
            from mlatr_nb.sonar import PARALLEL_CAPTIONS, SonarTokenizer, train_sentencepiece
            torch.manual_seed(0)
            t0 = time.perf_counter(); m = MLCLAP(); build = time.perf_counter() - t0
            m.save_pretrained({str(folder)!r}); save_mlclap_checkpoint(m, {str(pt)!r})
            save_ced_checkpoint(m.audio_tower, {str(ced)!r}, layout='hf')
            spm = train_sentencepiece([t for v in PARALLEL_CAPTIONS.values() for t in v], {str(root/'captions.model')!r})
            m.text_tower.set_tokenizer(SonarTokenizer.from_spm(spm)); m.text_tower.save_pretrained({str(sonar)!r})
            print(f'built the published-size model in {{build:.1f}} s: {{sum(p.numel() for p in m.parameters()):,}} parameters')
        ''')
        print(subprocess.run([sys.executable, '-c', setup], check=True, capture_output=True, text=True).stdout.strip(), flush=True)
    weights_mib = (folder/'model.safetensors').stat().st_size / 2**20
    print(f"model.safetensors {weights_mib:,.0f} MiB, pretrain.pt {pt.stat().st_size / 2**20:,.0f} MiB", flush=True)
    for f in (folder/'model.safetensors', pt, ced, sonar/'model.safetensors'):   # warm the page cache
        with open(f, 'rb') as fh:
            while fh.read(1 << 26): pass
    cases = args.cases or ['read safetensors', 'before, folder', 'after, folder', 'read .pt', 'before, .pt', 'after, .pt',
                           'read towers', 'before, towers', 'after, towers']
    refs = {'folder': 'read safetensors', '.pt': 'read .pt', 'towers': 'read towers'}
    for ref in [refs[c.split(', ')[1]] for c in cases if ', ' in c]:
        if ref not in cases: cases.insert(0, ref)   # every ratio needs its reference
    results = {}
    for case in cases:
        for r in range(args.repeats):
            out = subprocess.run([sys.executable, '-c', MEASURE, str(folder), str(pt), case], capture_output=True, text=True)
            if out.returncode: sys.exit(f"{case} failed:\n{out.stderr[-2000:]}")
            s, mib = map(float, out.stdout.split()[-2:])
            results.setdefault(case, []).append((s, mib))
            print(f"  {case}: {s:.2f} s, +{mib:,.0f} MiB", flush=True)
    print(f"\n| load | time (s) | x reading the file | peak memory (MiB) | x weights ({weights_mib:,.0f} MiB) |\n|---|---:|---:|---:|---:|")
    for case in cases:
        ref = min(s for s, _ in results[refs.get(case.split(', ')[-1], case)])
        ts, ms = [s for s, _ in results[case]], [m for _, m in results[case]]
        print(f"| {case} | {' / '.join(f'{t:.2f}' for t in ts)} | {min(ts) / ref:.2f} | {' / '.join(f'{m:,.0f}' for m in ms)} | "
              f"{max(ms) / weights_mib:.2f} |")
finally:
    if not args.dir: shutil.rmtree(root)
import torch
print(f"\n{os.cpu_count()} CPU cores, torch {torch.__version__}; load {os.getloadavg()[0]:.2f}")

"""Can the main job's audio tower hear direction (a swell or fade, an upward or downward sweep) when it is told the
answer? Direction is the one attribute the captions name that a tower must learn the order of its frames for, and
with CED's initialisation the main job did not separate it in the audio (10_train). This benchmark asks where the
limit sits, on the main job's own training clips and held-out clips (seed + 1000):

1. *In the features?* A small classifier on three hand-made statistics of each clip's log-mel (the slope of its
   total level and of its spectral centroid over the first 30 % of the clip, where the first event always is, and the
   level of the first tenth below that stretch's loudest frame). If it is right on nearly every held-out clip, the cue
   is in what the tower sees.
2. *In the order of the frames?* The same classifier on order-free statistics of the log-mel: each mel bin's mean and
   standard deviation over the clip's frames, and the log of their number. A falling event is a rising one played
   backwards, and reversing an event leaves these statistics unchanged, so they should be near chance. Every
   other attribute the captions name (kind, pitch, loudness, duration, background) is a property of this bag of
   frames: a tower that has learnt only such properties has not yet learnt direction.
3. *In the tower?* The main job's new audio tower (the same `TrainConfig` defaults, mel statistics and CACL batches
   of 32 random 10 s windows, for the same number of steps) with a linear head on its audio embedding, scaled by the
   model's temperature as the contrastive logits are, trained on the direction labels by cross-entropy instead of on
   captions. Its held-out accuracy is what the tower can learn of direction in the main job's budget when the loss
   asks for nothing else; its accuracy on the training windows of the last epoch shows how much of that is memory.

For each seed it prints the three accuracies on the held-out clips, split by the first event's kind and by whether a second
event follows; 50 % is chance.
The tower takes the main job's settings unless told otherwise: `--audio-time-pos-init normal` draws its time positions
at random as CED does, instead of the sine-cosine table (`02_ced`); `--audio-block-init-std 0.02` draws its block
weights at CED's std instead of the main job's 0.2 (`02_ced`); `--synthetic-twins` sets the share of training clips
that come in direction twins, batched together (`08_synthetic`; the main job's 0.5). The figures 10_train quotes for
CED's initialisation came from `--audio-time-pos-init normal --audio-block-init-std 0.02 --synthetic-twins 0`.
`--synthetic-clips` and `--epochs` trade passes for clips: `--synthetic-clips 3200 --epochs 4` takes the main job's
number of steps, but over 3,200 clips seen 4 times each instead of 400 seen 32 times, so that the tower cannot pass
by remembering its clips.
Run: python benchmarks/bench_direction.py [--seeds 0 2 3] [--held-out-clips 400] [--steps N]
     [--audio-time-pos-init normal|sincos] [--audio-block-init-std STD] [--synthetic-twins SHARE] [--synthetic-clips N] [--epochs N]
     [--audio-depth N] [--out DIR]
"""
import argparse, os, shutil, statistics, tempfile, time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault('HF_HUB_OFFLINE', '1')
import numpy as np, torch, torch.nn as nn, torch.nn.functional as F
from transformers import get_scheduler
from mlatr_nb.audio import collate_waveforms, load_audio
from mlatr_nb.core import positive_int, seed_everything
from mlatr_nb.sampling import audio_durations, example_loader
from mlatr_nb.synthetic import SYNTH_KINDS, synthetic_attributes, synthetic_dataset
from mlatr_nb.train import TrainConfig, batch_groups, build_model, calibrate_mel_norm, epoch_plan, make_sampler, prepare_data

def envelope_statistics(mel: torch.Tensor, n_frames: int) -> torch.Tensor:
    "(3,) statistics of one clip's (n_mels, frames) log-mel in dB: level slope, centroid slope, start level under the peak."
    power = 10 ** (mel[:, :n_frames].double() / 10)
    level, centroid = 10 * power.sum(0).log10(), (torch.arange(len(mel))[:, None] * power).sum(0) / power.sum(0)
    k = max(3, int(0.3 * n_frames))
    u = torch.arange(k, dtype=torch.float64); u = (u - u.mean()) / (u - u.mean()).square().sum() * k
    return torch.stack([(level[:k] * u).sum(), (centroid[:k] * u).sum(), level[:max(1, k // 3)].mean() - level[:k].max()]).float()

def bag_of_frames(mel: torch.Tensor, n_frames: int) -> torch.Tensor:
    "(2 n_mels + 1,) order-free statistics of one clip's (n_mels, frames) log-mel: per-bin mean and std, log frame count."
    real = mel[:, :n_frames].float()
    return torch.cat([real.mean(1), real.std(1, correction=0), torch.tensor([n_frames], dtype=torch.float).log()])

def clip_statistics(model, manifest, describe=envelope_statistics) -> torch.Tensor:
    "(n_clips, k) `describe` of each whole clip, through the model's own mel frontend."
    rows = []
    for i in range(0, len(manifest), 32):
        mel = model.frontend(*collate_waveforms([load_audio(it.audio) for it in manifest[i:i + 32]]))
        rows += [describe(m, int(n)) for m, n in zip(mel.mel, mel.frame_lengths)]
    return torch.stack(rows)

def fit_classifier(x: torch.Tensor, y: torch.Tensor, seed: int) -> nn.Module:
    "A 32-unit MLP on standardised inputs, fitted to all of `x` by L-BFGS."
    torch.manual_seed(seed)
    mu, sd = x.mean(0), x.std(0)
    net = nn.Sequential(nn.Linear(x.shape[1], 32), nn.ReLU(), nn.Linear(32, 2))
    opt = torch.optim.LBFGS(net.parameters(), max_iter=500)
    def closure():
        opt.zero_grad(); loss = F.cross_entropy(net((x - mu) / sd), y); loss.backward(); return loss
    opt.step(closure)
    return lambda z: net((z - mu) / sd)

def breakdown(right: torch.Tensor, attrs) -> dict[str, float]:
    "Accuracy in % overall, per first-event kind, and with and without a second event."
    out = {'all': 100 * right.float().mean().item()}
    for name, keep in [(k, [a.kind == k for a in attrs]) for k in SYNTH_KINDS] + [
            ('one event', [a.then_kind is None for a in attrs]), ('two events', [a.then_kind is not None for a in attrs])]:
        out[name] = 100 * right[torch.tensor(keep)].float().mean().item()
    return out

def probe_tower(cfg: TrainConfig, model, data, train_labels: torch.Tensor, held_out, labels: torch.Tensor,
                steps: int | None) -> tuple[torch.Tensor, int, float]:
    """Train a new model's audio tower and a linear head on the direction labels: (right on each held-out clip, steps,
    % right on the training windows of the last epoch it ran)."""
    head = nn.Linear(cfg.embed_dim, 2)
    params = [*model.audio_tower.parameters(), *model.audio_proj.parameters(), *model.temperature.parameters(), *head.parameters()]
    sampler, durations = make_sampler(cfg, data.train), np.minimum(audio_durations(data.train), cfg.max_train_seconds)
    groups = batch_groups(cfg, data.train)
    plans = [epoch_plan(sampler, durations, cfg, e, groups) for e in range(cfg.epochs)]
    total = min(steps or sum(map(len, plans)), sum(map(len, plans)))
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    schedule = get_scheduler('cosine', opt, num_warmup_steps=min(cfg.warmup_steps, total), num_training_steps=total)
    model.train(); model.audio_tower.init_bn.eval()   # the mel statistics stay frozen, as in the main job
    done = 0
    for epoch, plan in enumerate(plans):
        if done == total: break
        batches, fitted = [micro for step in plan for micro in step], []   # fitted: right or wrong on each window of the epoch
        for batch in example_loader(data.train, batches, seed=cfg.seed * 100_003 + epoch, crop_seconds=cfg.max_train_seconds):
            if done == total: break
            logits = head(model.encode_audio(batch.waveforms, batch.lengths)) / model.tau   # unit vectors, scaled as in the main job
            loss = F.cross_entropy(logits, train_labels[batch.clips])
            fitted.append(logits.argmax(1) == train_labels[batch.clips])
            opt.zero_grad(); loss.backward(); nn.utils.clip_grad_norm_(params, cfg.max_grad_norm); opt.step(); schedule.step()
            done += 1
    model.eval()
    with torch.no_grad():
        preds = [head(model.encode_audio(*collate_waveforms([load_audio(it.audio) for it in held_out[i:i + 32]]))).argmax(1)
                 for i in range(0, len(held_out), 32)]
    return torch.cat(preds) == labels, done, 100 * torch.cat(fitted).float().mean().item()

p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument('--seeds', type=int, nargs='+', default=[0], help='training seeds; held-out clips use seed + 1000 (default: 0)')
p.add_argument('--held-out-clips', type=positive_int, default=400, help='held-out clips to score (default: 400)')
p.add_argument('--steps', type=positive_int, help="optimizer steps of the tower probe (default: the main job's, 384)")
p.add_argument('--audio-time-pos-init', choices=['normal', 'sincos'], default=TrainConfig.audio_time_pos_init,
               help=f"the new tower's time positions, as mlatr-train's flag: random or a sine-cosine table (default: the main job's {TrainConfig.audio_time_pos_init})")
p.add_argument('--audio-block-init-std', type=float, default=TrainConfig.audio_block_init_std, metavar='STD',
               help=f"std of the new tower's block weights, as mlatr-train's flag (default: the main job's {TrainConfig.audio_block_init_std})")
p.add_argument('--synthetic-twins', type=float, default=TrainConfig.synthetic_twins, metavar='SHARE',
               help=f"share of the training clips in direction twins, as mlatr-train's flag (default: the main job's {TrainConfig.synthetic_twins})")
p.add_argument('--synthetic-clips', type=positive_int, default=TrainConfig.synthetic_clips, metavar='N',
               help=f"training clips, as mlatr-train's flag (default: the main job's {TrainConfig.synthetic_clips}); with more clips and fewer "
                    "--epochs the tower sees fresh clips instead of the same ones again")
p.add_argument('--epochs', type=positive_int, default=TrainConfig.epochs,
               help=f"passes over the training clips, as mlatr-train's flag (default: the main job's {TrainConfig.epochs})")
p.add_argument('--audio-depth', type=positive_int, default=TrainConfig.audio_depth,
               help=f"blocks of the new tower, as mlatr-train's flag (default: the main job's {TrainConfig.audio_depth})")
p.add_argument('--out', help='folder for the synthetic clips (default: a temporary folder, deleted afterwards)')
args = p.parse_args()
if args.held_out_clips < 10: p.error(f'--held-out-clips must be at least 10, got {args.held_out_clips}')
root = Path(args.out) if args.out else Path(tempfile.mkdtemp())
torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS', 2)))
rows = []
for seed in args.seeds:
    t0 = time.perf_counter()
    cfg = replace(TrainConfig(), seed=seed, output_dir=str(root/f'seed-{seed}'), eval_data='none',
                  audio_time_pos_init=args.audio_time_pos_init, audio_block_init_std=args.audio_block_init_std, synthetic_twins=args.synthetic_twins,
                  synthetic_clips=args.synthetic_clips, epochs=args.epochs, audio_depth=args.audio_depth)
    data = prepare_data(cfg)
    held_seed = cfg.data_seed + 1000
    held_out = synthetic_dataset(args.held_out_clips, langs=['eng_Latn'], seed=held_seed, root=root/f'seed-{seed}'/'held-out')
    attrs = synthetic_attributes(args.held_out_clips, held_seed)
    labels = torch.tensor([a.direction == 'rising' for a in attrs]).long()
    train_labels = torch.tensor([a.direction == 'rising' for a in synthetic_attributes(len(data.train), cfg.data_seed, cfg.twin_pairs)]).long()
    seed_everything(cfg.seed)   # the main job's new weights and mel statistics
    model = build_model(cfg, data.tokenizer)
    calibrate_mel_norm(model, data.train)
    right, steps, fitted = probe_tower(cfg, model, data, train_labels, held_out, labels, args.steps)
    tower = breakdown(right, attrs)
    classify = fit_classifier(clip_statistics(model, data.train), train_labels, seed)   # the model's own log-mel (no weights)
    hand = breakdown(classify(clip_statistics(model, held_out)).argmax(1) == labels, attrs)
    classify = fit_classifier(clip_statistics(model, data.train, bag_of_frames), train_labels, seed)
    bag = breakdown(classify(clip_statistics(model, held_out, bag_of_frames)).argmax(1) == labels, attrs)
    rows.append((seed, hand, bag, tower))
    print(f"seed {seed}: {len(data.train)} training clips, {steps} tower steps (last epoch: {fitted:.1f} % of training "
          f"windows right), {time.perf_counter() - t0:.0f} s (load {os.getloadavg()[0]:.2f})", flush=True)
if not args.out: shutil.rmtree(root)
cols = list(rows[0][1])
print(f'\ndirection accuracy (%) on held-out clips (50 % is chance); time positions: {args.audio_time_pos_init}; '
      f'block weights at std {args.audio_block_init_std}; '
      f'twins: {args.synthetic_twins}; {args.synthetic_clips} training clips x {args.epochs} epochs; {args.audio_depth} block(s)')
print('| seed | classifier on | ' + ' | '.join(cols) + ' |')
print('|---|---|' + '---:|' * len(cols))
WHAT = ('3 envelope statistics', 'bag of frames', 'the audio tower')
for seed, *accs in rows:
    for what, acc in zip(WHAT, accs):
        print(f'| {seed} | {what} | ' + ' | '.join(f'{acc[c]:.1f}' if acc[c] == acc[c] else '-' for c in cols) + ' |')   # NaN: no such clip
if len(rows) > 1:
    for k, what in enumerate(WHAT, 1):
        v = [r[k]['all'] for r in rows]
        print(f'{what}: mean {statistics.mean(v):.1f}, range {min(v):.1f}-{max(v):.1f}')

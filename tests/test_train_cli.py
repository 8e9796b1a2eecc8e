"`mlatr-train` end to end on small synthetic sets: the saved model, the report, the log, bad audio, stages, errors."
import json, sys
from pathlib import Path

import numpy as np
import pytest

from conftest import console_script
from train_helpers import make_synthetic, run, train_cmd
from mlatr_nb.core import PAPER_LANGS
from mlatr_nb.model import MLCLAP
from mlatr_nb.train import read_log


@pytest.fixture(scope='module')
def smoke(tmp_path_factory):
    "The main job, shrunk: `mlatr-train --data synthetic` with 24 training clips (half in direction twins), 12 held out, a 2-block CED (not the default 1), ML-CLAP's regulariser."
    out = tmp_path_factory.mktemp('smoke')/'run'
    r = run([console_script('mlatr-train'), '--data', 'synthetic', '--synthetic-clips', '24', '--synthetic-eval-clips', '12',
             '--batch-size', '8', '--epochs', '2', '--embed-dim', '64', '--audio-depth', '2', '--embed-reg', '1',
             '--synthetic-twins', '0.5', '--eval-every-epoch', '--output-dir', str(out)])
    return out, r


def test_smoke_saves_a_loadable_model(smoke):
    out, _ = smoke
    model = MLCLAP.from_pretrained(out/'final')
    emb = model.embed_text(['A short recording of a loud high pure tone growing louder.'], lang='eng_Latn')
    assert emb.shape == (1, 64)
    assert model.config.audio.embed_dim == 192 and model.config.text.model_dim == 128   # CED tiny, SONAR tiny
    assert model.config.audio.depth == 2 and len(model.audio_tower.blocks) == 2          # --audio-depth


def test_smoke_trains_on_twins(smoke):
    "--synthetic-twins 0.5: 6 of the 24 training clips are reversed twins of 6 others; the held-out clips have none."
    out, _ = smoke
    train_ids = [json.loads(l)['id'] for l in (out/'synthetic'/'train'/'manifest.jsonl').read_text().splitlines()]
    assert len(train_ids) == 24 and sum(i.endswith('-reversed') for i in train_ids) == 6
    assert train_ids[:2] == ['synth-0-00000', 'synth-0-00000-reversed']
    assert not any('-reversed' in l for l in (out/'synthetic'/'eval'/'manifest.jsonl').read_text().splitlines())
    assert json.loads((out/'train_config.json').read_text())['synthetic_twins'] == 0.5


def test_smoke_reports_every_language(smoke):
    out, r = smoke
    for lang in PAPER_LANGS: assert f'| {lang} |' in r.stdout
    assert '| chance (1/12 clips) | 8.3 | 8.3 |' in r.stdout
    metrics = json.loads((out/'eval'/'metrics.json').read_text())
    assert metrics['languages'] == list(PAPER_LANGS) and metrics['n_clips'] == 12
    assert (out/'eval'/'metrics.md').is_file() and (out/'eval'/'recall_per_language.png').is_file()


def test_smoke_log_curve_and_checkpoint(smoke):
    out, r = smoke
    log = read_log(out/'log.jsonl')
    steps = [e for e in log if e['kind'] == 'step']
    assert [e['step'] for e in steps] == list(range(1, 7))       # 24 CACL examples / 8 = 3 steps, 2 epochs
    assert all(np.isfinite(e['loss']) and e['examples_per_s'] > 0 for e in steps)
    assert [e['epoch'] for e in log if e['kind'] == 'eval'] == [1, 2]
    assert (out/'loss_curve.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert [p.name for p in (out/'checkpoints').iterdir()] == ['step-0000006']
    assert json.loads((out/'train_config.json').read_text())['objective'] == 'cacl'
    assert 'no examples were skipped' in r.stdout


def test_refuses_to_overwrite_a_run(smoke):
    out, _ = smoke
    r = run([console_script('mlatr-train'), '--output-dir', str(out)], check=False)
    assert r.returncode == 1 and 'already holds a run; pass --resume' in r.stderr


def test_bad_settings_are_named(tmp_path):
    r = run(train_cmd('--objective', 'kcl', '--batch-size', '0', '--output-dir', tmp_path/'x'), check=False)
    assert r.returncode == 1 and 'batch_size must be a positive integer, got 0' in r.stderr
    r = run(train_cmd('--langs', 'english', '--output-dir', tmp_path/'x'), check=False)
    assert r.returncode == 1 and "english" in r.stderr
    r = run(train_cmd('--data', tmp_path/'missing.jsonl', '--output-dir', tmp_path/'x'), check=False)
    assert r.returncode == 1 and 'missing.jsonl' in r.stderr
    r = run(train_cmd('--audio-depth', '0', '--output-dir', tmp_path/'x'), check=False)
    assert r.returncode == 1 and 'audio_depth must be a positive integer, got 0' in r.stderr
    r = run(train_cmd('--embed-reg', '-1', '--output-dir', tmp_path/'x'), check=False)
    assert r.returncode == 1 and 'embed_reg' in r.stderr
    r = run(train_cmd('--audio-pos-init-std', '-1', '--output-dir', tmp_path/'x'), check=False)
    assert r.returncode == 1 and 'audio_pos_init_std must be a finite number >= 0, got -1' in r.stderr
    r = run(train_cmd('--objective', 'kcl3'), check=False)
    assert r.returncode == 2 and "invalid choice: 'kcl3'" in r.stderr
    r = run(train_cmd('--audio-time-pos-init', 'rope'), check=False)
    assert r.returncode == 2 and "invalid choice: 'rope'" in r.stderr
    r = run(train_cmd('--synthetic-twins', '0.5', '--bucket-pool', '4', '--output-dir', tmp_path/'x'), check=False)
    assert r.returncode == 1 and 'pass bucket_pool 1 or synthetic_twins 0' in r.stderr


def test_unreadable_clip_is_skipped_and_counted(tmp_path):
    "A manifest whose files pass the up-front check but one of which is not audio: the run finishes and says so."
    synth = make_synthetic(tmp_path/'synthetic', n_clips=16)
    rows = [json.loads(l) for l in (synth/'train'/'manifest.jsonl').read_text().splitlines()]
    (synth/'train'/'audio'/'broken.wav').write_bytes(b'RIFF....WAVEfmt not really' * 40)
    rows.append(dict(rows[0], id='broken', audio='audio/broken.wav'))
    manifest = synth/'train'/'with_broken.jsonl'
    manifest.write_text(''.join(json.dumps(r, ensure_ascii=False) + '\n' for r in rows), encoding='utf-8')
    r = run(train_cmd('--data', manifest, '--tokenizer', synth/'tokenizer.model', '--objective', 'infonce',
                      '--batch-size', 17, '--epochs', 2, '--output-dir', tmp_path/'run'))
    assert "skipping clip 'broken'" in r.stderr and 'broken.wav' in r.stderr
    assert r.stderr.count("skipping clip 'broken'") == 1                              # warned once, not per epoch
    assert 'skipped 4 examples from 1 unreadable clip(s): broken' in r.stdout        # 2 captions x 2 epochs
    assert (tmp_path/'run'/'final'/'model.safetensors').is_file()


def test_two_stage_config(tmp_path):
    "Pretrain with the LE mixture, then fine-tune with CACL from the pretrain model, as one config file."
    make_synthetic(tmp_path/'run'/'synthetic', n_clips=16)
    cfg = tmp_path/'two.yaml'
    cfg.write_text(f"data: synthetic\nsynthetic_clips: 16\neval_data: none\nbatch_size: 8\noutput_dir: {tmp_path/'run'}\n"
                   "stages:\n  - {name: pretrain, objective: le, le_ratio: 0.5}\n  - {name: finetune, objective: cacl, lr: 1.0e-4}\n")
    run(train_cmd('--config', cfg, '--epochs', 1))
    pre, fine = tmp_path/'run'/'pretrain', tmp_path/'run'/'finetune'
    assert (pre/'final'/'config.json').is_file() and (fine/'final'/'config.json').is_file()
    fine_cfg = json.loads((fine/'train_config.json').read_text())
    assert fine_cfg['init'] == str(pre/'final') and fine_cfg['objective'] == 'cacl' and fine_cfg['lr'] == 1e-4
    assert json.loads((pre/'train_config.json').read_text())['objective'] == 'le'
    again = run(train_cmd('--config', cfg, '--epochs', 1, '--resume'))   # both stages done: nothing to train
    assert again.stdout.count('already finished') == 2


def test_module_and_accelerate_entry_points():
    r = run([sys.executable, '-m', 'mlatr_nb.train', '--help'])
    assert '--objective {infonce,le,random-language,kcl,cacl,distill}' in r.stdout and '--config' in r.stdout
    r = run([console_script('mlatr-train'), '--help'])
    assert '--freeze-text' in r.stdout


def test_distill_settings_are_checked(tmp_path):
    r = run(train_cmd('--objective', 'distill', '--output-dir', tmp_path/'x'), check=False)
    assert r.returncode == 1 and 'needs its targets from exactly one of --teachers' in r.stderr
    r = run(train_cmd('--objective', 'kcl', '--teachers', tmp_path, '--output-dir', tmp_path/'x'), check=False)
    assert r.returncode == 1 and 'teachers and targets are settings of --objective distill' in r.stderr
    r = run(train_cmd('--objective', 'distill', '--teachers', tmp_path/'nothing', '--output-dir', tmp_path/'x'), check=False)
    assert r.returncode == 1 and 'nothing' in r.stderr


def test_estimated_correspondences_recipe():
    "The shipped recipe: three stage-1 seeds on one synthetic set, then stage 2 from their ensemble, by stage name."
    from mlatr_nb.train import read_config_file, stage_configs
    settings, stages = read_config_file(Path(__file__).parent.parent/'recipes'/'estimated_correspondences.yaml')
    configs = stage_configs(settings, stages, {'output_dir': 'runs/est'})
    assert [n for n, _ in configs] == ['stage1-seed0', 'stage1-seed1', 'stage1-seed2', 'stage2']
    s1 = [c for _, c in configs[:3]]
    assert [c.seed for c in s1] == [0, 1, 2] and {c.data_seed for c in s1} == {0} and all(c.init is None for c in s1)
    stage2 = configs[3][1]
    assert stage2.objective == 'distill' and stage2.distill_sampler == 'kcl' and stage2.data_seed == 0
    assert stage2.teachers == [str(Path('runs/est')/f'stage1-seed{s}'/'final') for s in range(3)]
    assert stage2.init == stage2.teachers[0]

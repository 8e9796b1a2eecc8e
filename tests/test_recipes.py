"""Every recipe in `recipes/` runs end to end for 2 steps with tiny towers, as a user would start it: `mlatr-prepare` on
dataset copies generated in the published layouts, `mlatr-translate` (a tiny random NLLB) into the papers' 8 languages,
then `mlatr-train --config RECIPE --var ...` with flags that shrink the run. Also: a test clip in a hand-built training
manifest is reported before training starts, and a recipe with an unknown key names it."""
import json, subprocess
from pathlib import Path

import pytest
import torch
import yaml

from conftest import console_script
from mlatr_nb.ced import CEDEncoder, ced_config
from mlatr_nb.model import MLCLAP
from mlatr_nb.prepare import fake_dataset_copy
from mlatr_nb.sonar import SonarTextTower, sonar_config

RECIPES = Path(__file__).parent.parent/'recipes'
SMALL = ['--max-steps', '2', '--epochs', '1', '--batch-size', '4', '--eval-batch-size', '8', '--checkpoint-every', '0',
         '--mixed-precision', 'no', '--num-workers', '0', '--no-progress', '--max-train-seconds', '0.5']


def run(*cmd, timeout=900):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope='module')
def workspace(tmp_path_factory, nllb_dir, tok):
    "Prepared and translated AudioCaps, Clotho and WavCaps copies, tiny published-layout towers and a saved tiny MLCLAP."
    root = tmp_path_factory.mktemp('recipes')
    copy = fake_dataset_copy(root/'download', ('audiocaps', 'clotho', 'wavcaps'), clips=8)
    prepared = root/'prepared'
    for dataset in ('audiocaps', 'clotho', 'wavcaps'):
        r = run(console_script('mlatr-prepare'), dataset, copy, '--output-dir', prepared/dataset, '--no-progress', '--json')
        assert r.returncode == 0, r.stderr
        r = run(console_script('mlatr-translate'), prepared/dataset/'train.jsonl', '--langs', 'paper', '--output',
                prepared/dataset/'train.8lang.jsonl', '--model', nllb_dir, '--max-length', '8', '--beam-size', '1',
                '--device', 'cpu', '--keep-verbatim', '--no-progress', '--json')
        assert r.returncode == 0, r.stderr
    weights = root/'weights'
    weights.mkdir()
    torch.manual_seed(0)
    torch.save(CEDEncoder(ced_config('tiny', depth=1)).state_dict(), weights/'audiotransformer_tiny.pt')   # the original layout
    SonarTextTower(sonar_config('tiny', vocab_size=tok.embedding_size, num_layers=1), tokenizer=tok).save_pretrained(weights/'sonar-tiny')
    MLCLAP.from_towers(weights/'audiotransformer_tiny.pt', weights/'sonar-tiny', embed_dim=64).save_pretrained(weights/'mlclap-tiny')
    return dict(root=root, prepared=prepared, ced=weights/'audiotransformer_tiny.pt', sonar=weights/'sonar-tiny',
                mlclap=weights/'mlclap-tiny')


def test_prepared_manifests_have_the_papers_languages(workspace):
    report = json.loads((workspace['prepared']/'wavcaps'/'prepare_report.json').read_text())
    assert report['splits']['train']['overlap_removed'] == 2          # one AudioCaps test clip, one Clotho evaluation clip
    first = json.loads((workspace['prepared']/'audiocaps'/'train.8lang.jsonl').read_text().splitlines()[0])
    assert first['id'].startswith('Y') and first['youtube_id'] and len(first['captions']) == 8


def stages_of(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if (p/'final'/'config.json').is_file())


def test_ml_clap_recipe(workspace):
    out = workspace['root']/'runs'/'ml-clap'
    r = run(console_script('mlatr-train'), '--config', RECIPES/'ml_clap.yaml', '--var', f"prepared={workspace['prepared']}",
            '--var', f"ced={workspace['ced']}", '--var', f"sonar={workspace['sonar']}", '--output-dir', out, *SMALL)
    assert r.returncode == 0, r.stderr[-3000:]
    assert stages_of(out) == ['finetune-audiocaps', 'finetune-clotho', 'pretrain']
    assert 'also evaluation or test clips' not in r.stderr                 # mlatr-prepare removed WavCaps' overlap
    pre = json.loads((out/'pretrain'/'train_config.json').read_text())
    assert (pre['objective'], pre['lr'], pre['warmup_epochs'], pre['embed_reg'], pre['caption_style']) == ('le', 5e-4, 2, 1.0, 'mlclap')
    assert len(pre['data']) == 3 and pre['defaults'] == 'published'
    ft = json.loads((out/'finetune-clotho'/'train_config.json').read_text())
    assert ft['init'] == str(out/'pretrain'/'final') and ft['lr'] == 5e-4   # the file's values, not the checkpoint defaults


def test_atri_recipe(workspace):
    out = workspace['root']/'runs'/'atri'
    r = run(console_script('mlatr-train'), '--config', RECIPES/'atri.yaml', '--var', f"prepared={workspace['prepared']}",
            '--var', f"init={workspace['mlclap']}", '--output-dir', out, *SMALL)
    assert r.returncode == 0, r.stderr[-3000:]
    assert stages_of(out) == ['cacl', 'kcl']
    for stage, objective in (('kcl', 'kcl'), ('cacl', 'cacl')):
        cfg = json.loads((out/stage/'train_config.json').read_text())
        assert (cfg['objective'], cfg['lr'], cfg['optimizer'], cfg['init']) == (objective, 5e-6, 'adam', str(workspace['mlclap']))
        assert len(cfg['langs']) == 8


def test_estimated_correspondences_clotho_recipe(workspace):
    out = workspace['root']/'runs'/'estimated'
    r = run(console_script('mlatr-train'), '--config', RECIPES/'estimated_correspondences_clotho.yaml',
            '--var', f"prepared={workspace['prepared']}", '--var', f"ced={workspace['ced']}", '--var', f"sonar={workspace['sonar']}",
            '--output-dir', out, *SMALL)
    assert r.returncode == 0, r.stderr[-3000:]
    assert stages_of(out) == ['stage1-seed0', 'stage1-seed1', 'stage1-seed2', 'stage2']
    s2 = json.loads((out/'stage2'/'train_config.json').read_text())
    assert (s2['objective'], s2['sup_weight'], s2['distill_tau'], s2['tau'], s2['freeze_tau']) == ('distill', 0.0, 0.05, 0.05, True)
    assert s2['teachers'] == [str(out/f'stage1-seed{i}'/'final') for i in range(3)]
    assert json.loads((out/'stage2'/'final'/'config.json').read_text())['init_tau'] == pytest.approx(0.07)  # the config's field
    assert MLCLAP.from_pretrained(out/'stage2'/'final').tau.item() == pytest.approx(0.05, rel=1e-5)     # frozen at 0.05


def test_synthetic_recipe_is_the_main_job(workspace):
    from mlatr_nb.train import parse_train_args, TrainConfig
    from dataclasses import asdict
    (recipe,) = parse_train_args(['--config', str(RECIPES/'synthetic.yaml')])
    (bare,) = parse_train_args([])
    assert asdict(recipe[1]) == asdict(bare[1])
    out = workspace['root']/'runs'/'synthetic'
    r = run(console_script('mlatr-train'), '--config', RECIPES/'synthetic.yaml', '--output-dir', out, *SMALL,
            '--synthetic-clips', '16', '--synthetic-eval-clips', '8')
    assert r.returncode == 0, r.stderr[-3000:]
    assert (out/'final'/'config.json').is_file()


def test_every_recipe_is_tested():
    assert sorted(p.name for p in RECIPES.glob('*.yaml')) == ['atri.yaml', 'estimated_correspondences.yaml',
        'estimated_correspondences_clotho.yaml', 'ml_clap.yaml', 'synthetic.yaml']   # estimated_correspondences: test_train_cli


def test_a_test_clip_in_hand_built_training_data_is_reported(workspace):
    prepared, out = workspace['prepared'], workspace['root']/'runs'/'leak'
    test_rows = (prepared/'audiocaps'/'test.jsonl').read_text().splitlines()
    leak = json.loads(test_rows[0])
    hand = [{'id': 'my-clip.flac', 'audio': leak['audio'], 'captions': leak['captions']}]   # the same file under another id
    hand += [json.loads(l) for l in (prepared/'audiocaps'/'train.jsonl').read_text().splitlines()]
    (workspace['root']/'hand.jsonl').write_text(''.join(json.dumps(h) + '\n' for h in hand))
    r = run(console_script('mlatr-train'), '--data', workspace['root']/'hand.jsonl', '--test-data', prepared/'audiocaps'/'test.jsonl',
            '--init', workspace['mlclap'], '--output-dir', out, *SMALL)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "mlatr-train: warning: 1 training clips are also evaluation or test clips" in r.stderr
    assert f"'my-clip.flac' is {leak['id']!r}" in r.stderr


def test_a_recipe_with_an_unknown_key_names_it(workspace, tmp_path):
    recipe = yaml.safe_load((RECIPES/'atri.yaml').read_text())
    recipe['learning_rate'] = 1e-5
    (tmp_path/'typo.yaml').write_text(yaml.safe_dump(recipe))
    r = run(console_script('mlatr-train'), '--config', tmp_path/'typo.yaml', '--output-dir', tmp_path/'out')
    assert r.returncode == 1 and 'unknown setting(s) learning_rate' in r.stderr and 'Traceback' not in r.stderr, r.stderr
    assert not (tmp_path/'out').exists()

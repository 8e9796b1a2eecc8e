"""End to end: `mlatr-eval` (the console script declared in pyproject.toml) and `python -m mlatr_nb.eval`.

Both run in a subprocess, as a user would start them, on a tiny random MLCLAP saved with `save_pretrained` and a
JSON-lines manifest generated here, with WAV files at two sample rates and one stereo clip. The report files, the JSON
structure, the table and the plots are checked, and so are the error messages for bad input.
"""
import json, subprocess, sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import console_script

LANGS = ['eng_Latn', 'fra_Latn', 'zho_Hans']
N_CLIPS = 4
PNG = b'\x89PNG\r\n\x1a\n'
FILES = {'metrics.json', 'metrics.md', 'recall_per_language.png', 'rank_consistency.png', 'ranks.json'}
TABLE_HEADER = '| language | direction | R@1 | R@5 | R@10 | mAP@10 | MRV |'


def _console_script() -> str: return console_script('mlatr-eval')


def _run(cmd: list, ok: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=300)
    if ok: assert r.returncode == 0, f'{cmd} exited with {r.returncode}:\n{r.stderr}'
    return r


@pytest.fixture(scope='module')
def model_dir(tmp_path_factory) -> Path:
    "A tiny random MLCLAP (CED-tiny with 2 blocks, the tiny SONAR shape, a small SentencePiece model), saved once."
    import torch
    from mlatr_nb.ced import ced_config
    from mlatr_nb.model import MLCLAP
    from mlatr_nb.sonar import PARALLEL_CAPTIONS, SonarTokenizer, sonar_config, train_sentencepiece
    tmp = tmp_path_factory.mktemp('model')
    torch.manual_seed(0)
    tok = SonarTokenizer.from_spm(train_sentencepiece([t for v in PARALLEL_CAPTIONS.values() for t in v], tmp/'tiny.model'))
    model = MLCLAP(audio=ced_config('tiny', depth=2), text=sonar_config('tiny', vocab_size=tok.embedding_size),
                   embed_dim=256, tokenizer=tok)
    return model.save_pretrained(tmp/'tiny')


@pytest.fixture(scope='module')
def manifest(tmp_path_factory) -> Path:
    "Four 1-2 s clips (16 kHz mono, and 22.05 kHz stereo for clip 1), two captions each in three languages."
    from mlatr_nb.synthetic import synthetic_clip
    from mlatr_nb.sonar import PARALLEL_CAPTIONS
    tmp = tmp_path_factory.mktemp('data')
    (tmp/'wav').mkdir()
    lines = []
    for c in range(N_CLIPS):
        y = synthetic_clip((3, c))[0][:16000 + 4000 * c]      # the built-in set's clips are 2.8 s and longer
        if c == 1: sf.write(tmp/'wav'/f'c{c}.wav', np.stack([y, 0.5 * y], 1), 22050)
        else: sf.write(tmp/'wav'/f'c{c}.wav', y, 16000)
        captions = {lang: PARALLEL_CAPTIONS[lang][2 * c:2 * c + 2] for lang in LANGS}
        lines.append(json.dumps({'id': f'c{c}', 'audio': f'wav/c{c}.wav', 'captions': captions}, ensure_ascii=False))
    path = tmp/'test.jsonl'
    path.write_text('\n'.join(lines) + '\n', encoding='utf-8')
    return path


@pytest.fixture(scope='module')
def console_run(model_dir, manifest, tmp_path_factory):
    "One run of the console script with every language; its output folder and the finished process."
    out = tmp_path_factory.mktemp('report')/'all'
    r = _run([_console_script(), '--model', model_dir, '--manifest', manifest, '--output-dir', out, '--no-progress',
              '--batch-size', '2'])
    return out, r


def _check_metrics(report: dict, langs: list):
    assert report['languages'] == langs
    assert set(report['per_language']) == set(langs)
    for lang in langs:
        for d in ('t2a', 'a2t'):
            m = report['per_language'][lang][d]
            for k in ('R@1', 'R@5', 'R@10', 'mAP@10'): assert 0 <= m[k] <= 1, (lang, d, k, m[k])
            assert m['R@10'] == 1.0                       # 4 clips / 8 captions: every gold item is in the top 10
            assert m['R@1'] <= m['R@5'] <= m['R@10']
    assert set(report['mrv']) == {'t2a', 'a2t'} and all(v >= 0 for v in report['mrv'].values())
    assert set(report['mean']) == {'t2a', 'a2t'}
    assert (report['n_clips'], report['n_captions'], report['dropped']) == (N_CLIPS, 2 * N_CLIPS, {})


def test_console_script_report(console_run, model_dir):
    out, r = console_run
    assert {p.name for p in out.iterdir()} == FILES
    report = json.loads((out/'metrics.json').read_text(encoding='utf-8'))
    _check_metrics(report, LANGS)
    assert report['model'] == str(model_dir) and report['reference_language'] == 'eng_Latn'
    assert 'ranks' not in report
    ranks = json.loads((out/'ranks.json').read_text(encoding='utf-8'))
    assert ranks['clip_ids'] == [f'c{c}' for c in range(N_CLIPS)]
    assert ranks['caption_ids'][:3] == ['c0#0', 'c0#1', 'c1#0']
    for lang in LANGS:
        assert len(ranks['t2a'][lang]) == 2 * N_CLIPS and all(1 <= x <= N_CLIPS for x in ranks['t2a'][lang])
        assert len(ranks['a2t'][lang]) == N_CLIPS and all(1 <= x <= 2 * N_CLIPS - 1 for x in ranks['a2t'][lang])
    # MRV is recomputed from the saved ranks: mean over instances of the population std over languages
    for d in ('t2a', 'a2t'):
        std = np.array([ranks[d][lang] for lang in LANGS], dtype=float).std(axis=0)
        assert abs(report['mrv'][d] - std.mean()) < 1e-9
    for png in ('recall_per_language.png', 'rank_consistency.png'):
        assert (out/png).read_bytes()[:8] == PNG and (out/png).stat().st_size > 1000


def test_console_script_table(console_run):
    out, r = console_run
    table = (out/'metrics.md').read_text(encoding='utf-8').strip()
    assert table in r.stdout
    lines = table.splitlines()
    assert lines[0] == TABLE_HEADER and len(lines) == 2 + 2 * (len(LANGS) + 1)
    report = json.loads((out/'metrics.json').read_text(encoding='utf-8'))
    rows = {tuple(c.strip() for c in line.strip('|').split('|')[:2]): line for line in lines[2:]}
    cells = rows[('fra_Latn', 'T2A')].strip('|').split('|')
    assert float(cells[2]) == pytest.approx(100 * report['per_language']['fra_Latn']['t2a']['R@1'], abs=0.006)
    assert rows[('fra_Latn', 'T2A')].rstrip().endswith('| – |')     # MRV only on the mean rows
    assert float(rows[('mean', 'A2T')].strip('|').split('|')[-1]) == pytest.approx(report['mrv']['a2t'], abs=0.006)
    assert 'wrote' in r.stderr and 'Traceback' not in r.stderr


def test_python_m(console_run, model_dir, manifest, tmp_path):
    "`python -m mlatr_nb.eval` with a language subset, in the order given; progress bars on stderr."
    out = tmp_path/'sub'
    r = _run([sys.executable, '-m', 'mlatr_nb.eval', '--model', model_dir, '--manifest', manifest, '--out', out,
              '--langs', 'zho_Hans', 'eng_Latn', '--device', 'cpu'])
    assert {p.name for p in out.iterdir()} == FILES
    report = json.loads((out/'metrics.json').read_text(encoding='utf-8'))
    _check_metrics(report, ['zho_Hans', 'eng_Latn'])
    assert report['reference_language'] == 'eng_Latn' and report['device'] == 'cpu'
    assert 'embedding audio' in r.stderr and TABLE_HEADER in r.stdout
    # the same model on the same clips: each language scores as in the run with all languages
    full = json.loads((console_run[0]/'metrics.json').read_text(encoding='utf-8'))
    for lang in ('zho_Hans', 'eng_Latn'): assert report['per_language'][lang] == full['per_language'][lang]


def test_missing_manifest(model_dir, tmp_path):
    missing = tmp_path/'nowhere'/'test.jsonl'
    r = _run([_console_script(), '--model', model_dir, '--manifest', missing, '--out', tmp_path/'out'], ok=False)
    assert r.returncode == 1 and str(missing) in r.stderr and 'Traceback' not in r.stderr, r.stderr
    assert not (tmp_path/'out').exists()


def test_unknown_language(model_dir, manifest, tmp_path):
    r = _run([sys.executable, '-m', 'mlatr_nb.eval', '--model', model_dir, '--manifest', manifest,
              '--out', tmp_path/'out', '--langs', 'eng_Latn', 'english'], ok=False)
    assert r.returncode == 1 and "'english'" in r.stderr and 'Traceback' not in r.stderr, r.stderr


def _in_process(capsys, *argv) -> tuple[int, str]:
    from mlatr_nb.eval import eval_cli
    status = eval_cli([str(a) for a in argv])
    return status, capsys.readouterr().err


def test_input_errors_in_process(model_dir, manifest, tmp_path, capsys):
    "Mistakes found after the manifest loads, each named in one message (in-process: the model module is loaded already)."
    out = ('--out', tmp_path/'out', '--no-progress')
    status, err = _in_process(capsys, '--model', tmp_path/'no-model', '--manifest', manifest, *out)
    assert status == 1 and 'no-model' in err
    status, err = _in_process(capsys, '--model', model_dir, '--manifest', manifest, '--langs', 'deu_Latn', *out)
    assert status == 1 and 'no captions in deu_Latn' in err
    status, err = _in_process(capsys, '--model', model_dir, '--manifest', manifest, '--langs', 'fra_Latn',
                              '--ref-lang', 'eng_Latn', *out)
    assert status == 1 and "--ref-lang 'eng_Latn'" in err
    status, err = _in_process(capsys, '--model', model_dir, '--manifest', manifest, '--device', 'toaster', *out)
    assert status == 1 and "'toaster'" in err
    bad = tmp_path/'bad.jsonl'
    bad.write_text('{"id": "a", "audio": "gone.wav", "captions": {"eng_Latn": ["A dog barks."]}}\n'
                   '{"id": "a", "audio": "gone.wav", "captions": {"xx_Latn": ["?"]}}\n', encoding='utf-8')
    status, err = _in_process(capsys, '--model', model_dir, '--manifest', bad, *out)
    assert status == 1 and 'bad.jsonl' in err and 'gone.wav' in err and 'xx_Latn' in err, err
    assert not (tmp_path/'out').exists()
    with pytest.raises(SystemExit) as e: _in_process(capsys, '--model', model_dir, '--manifest', manifest, '--batch-size', '0')
    assert e.value.code == 2 and 'argument --batch-size: must be a positive integer, got 0' in capsys.readouterr().err


def test_an_index_built_from_the_manifest_is_scored_without_embedding_again(console_run, model_dir, manifest, tmp_path):
    "`mlatr-search build MODEL MANIFEST INDEX` keeps ids and captions; `mlatr-eval --index INDEX` scores its stored rows."
    index = tmp_path/'index'
    _run([console_script('mlatr-search'), 'build', model_dir, manifest, index, '--no-progress', '--num-workers', '0'])
    out = tmp_path/'from-index'
    r = _run([_console_script(), '--index', index, '--output-dir', out, '--batch-size', '2'])
    assert 'embedding text' in r.stderr and 'embedding audio' not in r.stderr   # every clip's embedding came from the index
    report = json.loads((out/'metrics.json').read_text(encoding='utf-8'))
    full = json.loads((console_run[0]/'metrics.json').read_text(encoding='utf-8'))
    assert report['model'] == str(model_dir)                       # the model that built the index
    for lang in LANGS:
        for d in ('t2a', 'a2t'):
            for k, v in full['per_language'][lang][d].items(): assert report['per_language'][lang][d][k] == pytest.approx(v, abs=1e-6)
    r = _run([_console_script(), '--output-dir', tmp_path/'x'], ok=False)
    assert r.returncode == 1 and '--model and --manifest are both needed (or --index' in r.stderr

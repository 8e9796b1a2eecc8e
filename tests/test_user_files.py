"""Nothing a user owns is lost or silently wrong: the console scripts as a careless or adversarial user runs them.

Each test checks what matters to the user: their files are byte for byte (and mode for mode) what they were, and the
script said what was wrong in one line with exit code 1 (a bug exits with 2 and its traceback). Training runs, resume
and distillation targets are in `test_train_safety.py`.
"""
import hashlib, json, os, shutil, subprocess, sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import console_script
from train_helpers import env
from mlatr_nb.ced import ced_config
from mlatr_nb.model import MLCLAP
from mlatr_nb.sonar import sonar_config
from mlatr_nb.synthetic import synthetic_clip


def digest(path) -> str: return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def snapshot(folder) -> dict:
    "Every file and folder under `folder`: its bytes' digest (files) and its mode. What must not change."
    folder = Path(folder)
    return {str(p.relative_to(folder)): (digest(p) if p.is_file() else 'dir', p.stat().st_mode)
            for p in sorted(folder.rglob('*'))}


def cli(name: str, *args, umask: int = 0o022, extra_env=None) -> subprocess.CompletedProcess:
    "Run an installed console script the way a user does, with the umask most users have."
    return subprocess.run([console_script(name), *map(str, args)], capture_output=True, text=True, timeout=600,
                          env=env(**(extra_env or {})), preexec_fn=lambda: os.umask(umask))


def refused(r: subprocess.CompletedProcess, *words: str) -> None:
    "Exit 1, one error line naming `words`, no traceback."
    lines = [l for l in r.stderr.splitlines() if ': error: ' in l]
    assert r.returncode == 1 and len(lines) == 1 and 'Traceback' not in r.stderr, (r.returncode, r.stderr[-3000:])
    for w in words: assert w in lines[0], (w, lines[0])


@pytest.fixture(scope='module')
def model_dir(tmp_path_factory, tok):
    "A tiny random model whose tokenizer knows the 8 paper languages (and no Korean), saved as a user saves one."
    torch.manual_seed(0)
    model = MLCLAP(audio=ced_config('tiny', depth=1), text=sonar_config('tiny', vocab_size=tok.embedding_size), embed_dim=32,
                   tokenizer=tok)
    return model.save_pretrained(tmp_path_factory.mktemp('model')/'model')


def write_library(folder: Path, n: int = 4) -> Path:
    for i in range(n):
        (folder/f'group-{i % 2}').mkdir(parents=True, exist_ok=True)
        sf.write(folder/f'group-{i % 2}'/f'clip-{i}.wav', synthetic_clip((5, i))[0][:16000 * 2], 16000)
    return folder


@pytest.fixture
def library(tmp_path): return write_library(tmp_path/'sounds')


@pytest.fixture
def index(tmp_path, model_dir, library):
    r = cli('mlatr-search', 'build', model_dir, library, tmp_path/'index', '--num-workers', 0, '--no-progress')
    assert r.returncode == 0, r.stderr
    return tmp_path/'index'


@contextmanager
def read_only(folder: Path):
    "Make `folder` unwritable, for root too (the immutable attribute), and restore it afterwards."
    if os.geteuid() == 0: subprocess.run(['chattr', '+i', str(folder)], check=True)
    else: folder.chmod(0o555)
    try:
        probe = folder/'.probe'
        with pytest.raises(OSError): probe.write_text('x')
        yield folder
    finally:
        if os.geteuid() == 0: subprocess.run(['chattr', '-i', str(folder)], check=True)
        else: folder.chmod(0o755)


# ---- mlatr-search --------------------------------------------------------------------------------------------------

def test_build_never_writes_into_a_folder_that_is_not_an_index(tmp_path, model_dir, library):
    mine = tmp_path/'my-project'
    (mine/'parts').mkdir(parents=True)
    (mine/'parts'/'chapter-1.npz').write_bytes(b'my numbers')
    (mine/'files.jsonl').write_text('my list\n'); np.save(mine/'embeddings.npy', np.arange(3.0))
    foreign = tmp_path/'foreign'; foreign.mkdir(); (foreign/'index.json').write_text('{"format": "another-tool/2"}')
    for target, words in ((mine, 'is not empty and is not an index of this library'), (library, 'is not an index'),
                          (foreign, 'not an index of this library')):
        before = snapshot(target)
        refused(cli('mlatr-search', 'build', model_dir, library, target, '--num-workers', 0, '--no-progress'), str(target), words)
        assert snapshot(target) == before, target


def test_a_file_among_the_parts_is_neither_read_nor_removed(tmp_path, model_dir, library, index):
    (index/'.mlatr-index-parts').mkdir()
    np.savez(index/'.mlatr-index-parts'/'part-000000.npz', fingerprint=np.array('x'), notes=np.ones(2))
    before = digest(index/'.mlatr-index-parts'/'part-000000.npz')
    sf.write(library/'group-0'/'new.wav', synthetic_clip((5, 9))[0][:16000], 16000)
    r = cli('mlatr-search', 'build', model_dir, library, index, '--num-workers', 0, '--no-progress')
    assert r.returncode == 0 and '1 embedded now, 4 kept' in r.stderr, r.stderr
    assert digest(index/'.mlatr-index-parts'/'part-000000.npz') == before
    assert sorted(p.name for p in (index/'.mlatr-index-parts').iterdir()) == ['part-000000.npz']


def test_an_edited_index_is_refused_and_a_rebuild_trusts_none_of_it(tmp_path, model_dir, library, index):
    rows = (index/'files.jsonl').read_text().splitlines()
    fresh = json.loads(cli('mlatr-search', 'query', index, str(library/'group-1'/'clip-1.wav'), '-k', 4, '--json').stdout)
    for edited in ([rows[0].replace('clip-0.wav', 'renamed.wav'), *rows[1:]], [rows[1], rows[0], *rows[2:]]):
        (index/'files.jsonl').write_text('\n'.join(edited) + '\n')
        refused(cli('mlatr-search', 'query', index, 'a dog', '--lang', 'eng_Latn'), str(index/'files.jsonl'),
                'was changed after the index was built', 'rebuild')
        r = cli('mlatr-search', 'build', model_dir, library, index, '--num-workers', 0, '--no-progress')
        assert r.returncode == 0 and 'every file is embedded again' in r.stderr, r.stderr
        again = json.loads(cli('mlatr-search', 'query', index, str(library/'group-1'/'clip-1.wav'), '-k', 4, '--json').stdout)
        assert [h['path'] for h in again] == [h['path'] for h in fresh]
        assert all(Path(h['path']).is_file() for h in again)
        np.testing.assert_allclose([h['score'] for h in again], [h['score'] for h in fresh], atol=1e-5)


def test_damaged_index_files_are_named(tmp_path, index):
    emb = (index/'embeddings.npy').read_bytes()
    (index/'embeddings.npy').write_bytes(emb[:100])
    refused(cli('mlatr-search', 'query', index, 'a dog', '--lang', 'eng_Latn'), str(index/'embeddings.npy'), 'rebuild')
    (index/'embeddings.npy').write_bytes(emb)
    (index/'index.json').write_text('{"format": "mlatr-audio-index/1", ')
    refused(cli('mlatr-search', 'query', index, 'a dog', '--lang', 'eng_Latn'), str(index/'index.json'), 'not valid JSON')


def test_a_query_naming_a_missing_sound_file_is_an_error_never_a_caption(tmp_path, library, index):
    refused(cli('mlatr-search', 'query', index, tmp_path/'no-such-clip.wav'), f"No file at {tmp_path/'no-such-clip.wav'}")
    refused(cli('mlatr-search', 'query', index, 'birds.oga', '--lang', 'eng_Latn'), 'No file at birds.oga')
    refused(cli('mlatr-search', 'query', index, './takes/door.m4a', '--lang', 'eng_Latn'), 'No file at ./takes/door.m4a')
    wave = synthetic_clip((5, 1))[0][:16000 * 2]
    sf.write(tmp_path/'theme.oga', wave, 16000, format='OGG')   # a real file in a format the index does not collect
    r = cli('mlatr-search', 'query', index, tmp_path/'theme.oga', '-k', 1, '--json')
    assert r.returncode == 0 and len(json.loads(r.stdout)) == 1, r.stderr   # searched as audio, no --lang needed


def test_a_hit_whose_file_is_gone_comes_with_a_warning(library, index):
    (library/'group-0'/'clip-2.wav').unlink()
    r = cli('mlatr-search', 'query', index, 'a tone', '--lang', 'eng_Latn', '-k', 4)
    assert r.returncode == 0 and 'mlatr-search: warning: 1 of the hits are gone or changed since' in r.stderr, r.stderr
    assert str(library/'group-0'/'clip-2.wav') in r.stderr and 'UserWarning' not in r.stderr


def test_an_unwritable_index_fails_before_any_audio_is_decoded(tmp_path, model_dir, library, index):
    sf.write(library/'group-1'/'new.wav', synthetic_clip((5, 7))[0][:16000], 16000)
    before = snapshot(index)
    with read_only(index):
        r = cli('mlatr-search', 'build', model_dir, library, index, '--num-workers', 0, '--no-progress')
    refused(r, str(index/'index.lock'))
    assert 'indexing audio' not in r.stderr and 'embedded now' not in r.stderr
    assert snapshot(index) == before


def test_a_full_disk_is_one_line_naming_the_file(tmp_path, model_dir, library):
    if shutil.which('unshare') is None: pytest.fail('util-linux unshare is needed to give the build a small disk')
    disk = tmp_path/'small-disk'; disk.mkdir()
    cmd = ['unshare', '-rm', 'sh', '-c', f'mount -t tmpfs -o size=8k tmpfs {disk} && exec "$@"', 'sh', console_script('mlatr-search'),
           'build', str(model_dir), str(library), str(disk/'index'), '--num-workers', '0', '--no-progress']
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env())
    refused(r, 'No space left on device', str(disk/'index'))


def test_index_files_follow_the_umask(tmp_path, model_dir, library):
    r = cli('mlatr-search', 'build', model_dir, library, tmp_path/'shared', '--num-workers', 0, '--no-progress', umask=0o022)
    assert r.returncode == 0, r.stderr
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in (tmp_path/'shared').iterdir()} == \
        {name: '0o644' for name in ('index.json', 'files.jsonl', 'embeddings.npy')}
    r = cli('mlatr-search', 'build', model_dir, library, tmp_path/'private', '--num-workers', 0, '--no-progress', umask=0o077)
    assert {oct(p.stat().st_mode & 0o777) for p in (tmp_path/'private').iterdir()} == {'0o600'}


# ---- mlatr-translate -----------------------------------------------------------------------------------------------

@pytest.fixture
def english(tmp_path):
    rows = [dict(id=f'c{i}', audio=f'c{i}.wav', captions={'eng_Latn': [f'A dog barks {i} times.']}, license='CC0',
                 duration=2.5 + i) for i in range(3)]
    path = tmp_path/'english.jsonl'
    path.write_text(''.join(json.dumps(r) + '\n' for r in rows))
    return path


def translate(manifest, *args, nllb):
    return cli('mlatr-translate', manifest, '--langs', 'deu_Latn', '--model', nllb, '--max-length', 8, '--beam-size', 1,
               '--device', 'cpu', '--no-progress', *args)


def test_translate_never_replaces_its_input(tmp_path, english, nllb_dir):
    original = digest(english)
    refused(translate(english, '--output', english, nllb=nllb_dir), 'is the same file as the manifest')
    assert digest(english) == original
    os.link(english, tmp_path/'alias.jsonl'); before = snapshot(tmp_path)
    refused(translate(english, '--output', tmp_path/'alias.jsonl', nllb=nllb_dir), 'is the same file as the manifest')
    refused(translate(english, '--output', tmp_path/'x.jsonl', '--cache', english, nllb=nllb_dir), '--cache', 'the manifest')
    assert snapshot(tmp_path) == before


def test_a_cache_path_that_is_not_a_cache_is_left_untouched(tmp_path, english, nllb_dir):
    (tmp_path/'notes.txt').write_text('Translate Clotho first.\nThen AudioCaps')
    (tmp_path/'other.jsonl').write_text(english.read_text())      # another manifest, named as the cache by mistake
    (tmp_path/'bad-cache.jsonl').write_text('{"format": "mlatr-translation-cache/1"}\n' + json.dumps(dict(
        engine='e', source_lang='eng_Latn', target_lang='deu_Latn', source='A dog.', translation=['not', 'a', 'string'])) + '\n')
    before = snapshot(tmp_path)
    for cache, words in (('notes.txt', 'notes.txt line 1 is not a translation cache entry'),
                         ('other.jsonl', "other.jsonl line 1 is not a translation cache entry (no field 'engine')"),
                         ('bad-cache.jsonl', 'bad-cache.jsonl line 2 is not a translation cache entry (translation is a list')):
        refused(translate(english, '--output', tmp_path/'x.jsonl', '--cache', tmp_path/cache, nllb=nllb_dir), words)
    assert snapshot(tmp_path) == before


def test_translate_keeps_every_field_and_the_umask(tmp_path, english, nllb_dir):
    r = translate(english, '--output', tmp_path/'german.jsonl', nllb=nllb_dir)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(l) for l in (tmp_path/'german.jsonl').read_text().splitlines()]
    assert [(r['license'], r['duration']) for r in rows] == [('CC0', 2.5), ('CC0', 3.5), ('CC0', 4.5)]
    assert all('deu_Latn' in r['translated'] for r in rows if 'deu_Latn' in r['captions'])
    assert {oct(p.stat().st_mode & 0o777) for p in (tmp_path/'german.jsonl', tmp_path/'german.cache.jsonl')} == {'0o644'}


# ---- mlatr-eval ----------------------------------------------------------------------------------------------------

@pytest.fixture
def korean_manifest(tmp_path, library):
    korean = ['개가 두 번 짖는다.', '비가 양철 지붕에 떨어진다.', '종이 세 번 울린다.', '바람이 나무 사이로 분다.']
    english = ['A dog barks twice.', 'Rain falls on a tin roof.', 'A bell rings three times.', 'Wind blows through trees.']
    rows = [dict(id=f'clip-{i}', audio=str(library/f'group-{i % 2}'/f'clip-{i}.wav'),
                 captions={'eng_Latn': [english[i]], 'kor_Hang': [korean[i]]}) for i in range(4)]
    path = tmp_path/'ko.jsonl'
    path.write_text(''.join(json.dumps(r, ensure_ascii=False) + '\n' for r in rows), encoding='utf-8')
    return path


def test_a_language_the_tokenizer_cannot_represent_is_marked_and_left_out_of_the_mean(tmp_path, model_dir, korean_manifest):
    r = cli('mlatr-eval', '--model', model_dir, '--manifest', korean_manifest, '--output-dir', tmp_path/'report', '--no-progress')
    assert r.returncode == 0, r.stderr
    assert 'mlatr-eval: warning: kor_Hang (' in r.stderr and 'left out of the mean' in r.stderr
    report = json.loads((tmp_path/'report'/'metrics.json').read_text())
    assert report['unrepresented_languages'] == ['kor_Hang'] and report['mean_languages'] == ['eng_Latn']
    assert report['unknown_token_share']['kor_Hang'] > 0.3 and report['unknown_token_share']['eng_Latn'] == 0
    assert report['mean'] == report['per_language']['eng_Latn'] and '| kor_Hang (' in r.stdout
    r = cli('mlatr-eval', '--model', model_dir, '--manifest', korean_manifest, '--output-dir', tmp_path/'all', '--no-progress',
            '--include-unknown-langs')
    report = json.loads((tmp_path/'all'/'metrics.json').read_text())
    assert report['mean_languages'] == ['eng_Latn', 'kor_Hang']
    assert report['mean']['t2a']['R@1'] == pytest.approx(np.mean([report['per_language'][l]['t2a']['R@1'] for l in ('eng_Latn', 'kor_Hang')]))


def test_eval_never_writes_over_files_that_are_not_its_report(tmp_path, model_dir, korean_manifest):
    mine = tmp_path/'paper'; mine.mkdir()
    (mine/'metrics.md').write_text('# My hand-made results table\n'); (mine/'draft.tex').write_text('\\section{}')
    before = snapshot(mine)
    refused(cli('mlatr-eval', '--model', model_dir, '--manifest', korean_manifest, '--output-dir', mine, '--no-progress'),
            str(mine), 'not an earlier report')
    assert snapshot(mine) == before


# ---- weight files ---------------------------------------------------------------------------------------------------

class RunsCode:
    "Pickled, this makes whoever unpickles it create a file: the proof that code ran."
    def __init__(self, marker): self.marker = marker
    def __reduce__(self): return (os.mkdir, (self.marker,))


def test_damaged_or_foreign_weights_are_named_and_never_unpickled(tmp_path, model_dir, korean_manifest):
    cut = tmp_path/'cut'; shutil.copytree(model_dir, cut)
    (cut/'model.safetensors').write_bytes((model_dir/'model.safetensors').read_bytes()[:5000])
    refused(cli('mlatr-eval', '--model', cut, '--manifest', korean_manifest, '--output-dir', tmp_path/'r'),
            str(cut/'model.safetensors'), 'is not a readable safetensors file')
    (tmp_path/'empty.pt').write_bytes(b''); (tmp_path/'noise.pt').write_bytes(np.random.default_rng(0).bytes(4096))
    torch.save({'weights': RunsCode(str(tmp_path/'code-ran'))}, tmp_path/'code.pt')
    for name in ('empty.pt', 'noise.pt', 'code.pt'):
        r = cli('mlatr-eval', '--model', tmp_path/name, '--manifest', korean_manifest, '--output-dir', tmp_path/'r')
        refused(r, str(tmp_path/name), 'is not a readable PyTorch checkpoint file')
        assert 'weights_only' not in r.stderr
    assert not (tmp_path/'code-ran').exists() and not (tmp_path/'r').exists()


# ---- the dialect: one line and 1 for a refusal, a traceback and 2 for a bug --------------------------------------

def test_debug_shows_the_traceback_of_a_refusal(tmp_path):
    for r in (cli('mlatr-search', 'query', tmp_path/'nowhere', 'a dog', '--lang', 'eng_Latn', '--debug'),
              cli('mlatr-search', 'query', tmp_path/'nowhere', 'a dog', '--lang', 'eng_Latn', extra_env={'MLATR_DEBUG': '1'})):
        assert r.returncode == 1 and 'Traceback' in r.stderr and r.stderr.rstrip().endswith(f"(no index.json)"), r.stderr


def test_a_bug_exits_2_with_its_traceback(tmp_path):
    code = ("import mlatr_nb.search as s\n"
            "s._search_main = lambda argv: {}['a key that is not there']\n"
            "raise SystemExit(s.search_cli(['query', 'x', 'y']))")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=600, env=env())
    assert r.returncode == 2 and 'Traceback' in r.stderr and 'KeyError' in r.stderr and 'a bug in mlatr_nb' in r.stderr, r.stderr


def test_two_builds_at_once_end_as_one_after_the_other(tmp_path, model_dir):
    sounds = write_library(tmp_path/'many', n=16)
    cmd = [console_script('mlatr-search'), 'build', str(model_dir), str(sounds), str(tmp_path/'index'), '--num-workers', '0',
           '--no-progress', '--json']
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
    second = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
    results = [p.communicate(timeout=600) + (p.returncode,) for p in (first, second)]
    assert all(code == 0 for _, _, code in results), results
    assert sorted(json.loads(out)['clips'] for out, _, _ in results) == [16, 16]
    assert sum('16 embedded now, 0 kept' in err for _, err, _ in results) == 1   # the other one waited, then reused it all
    assert sum('0 embedded now, 16 kept' in err for _, err, _ in results) == 1

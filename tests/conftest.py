"Fixtures and helpers shared by the pytest files."
import shutil, sys
from pathlib import Path

import pytest

from mlatr_nb.sonar import PARALLEL_CAPTIONS, SonarTokenizer, train_sentencepiece


def console_script(name: str) -> str:
    "Path of the installed console script `name` (next to this interpreter, else on PATH)."
    local = Path(sys.executable).with_name(name)
    found = str(local) if local.exists() else shutil.which(name)
    assert found, f'{name} is not installed; `pip install -e .` creates it from [project.scripts]'
    return found


@pytest.fixture(scope='session')
def spm_file(tmp_path_factory):
    "A tiny NLLB-layout SentencePiece model trained on the parallel captions of all 8 paper languages."
    return train_sentencepiece([t for v in PARALLEL_CAPTIONS.values() for t in v], tmp_path_factory.mktemp('spm')/'tiny.model')


@pytest.fixture(scope='session')
def tok(spm_file): return SonarTokenizer.from_spm(spm_file)

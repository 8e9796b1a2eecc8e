"Fixtures and helpers shared by the pytest files."
import shutil, sys
from pathlib import Path

import pytest
import torch

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


@pytest.fixture(scope='session')
def nllb_dir(tmp_path_factory, tok):
    "A tiny random NLLB model with the tiny tokenizer, saved as transformers saves a real checkpoint."
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer, M2M100Config
    folder = tmp_path_factory.mktemp('nllb')/'nllb-tiny'
    tok.save_pretrained(folder)
    hf = AutoTokenizer.from_pretrained(folder)
    torch.manual_seed(0)
    AutoModelForSeq2SeqLM.from_config(M2M100Config(
        vocab_size=len(hf), d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2,
        encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=128, pad_token_id=hf.pad_token_id,
        bos_token_id=hf.bos_token_id, eos_token_id=hf.eos_token_id, decoder_start_token_id=hf.eos_token_id)).save_pretrained(folder)
    return folder

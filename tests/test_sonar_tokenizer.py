"SONAR tokenizer: NLLB layout, language tokens, truncation, padding and the fairseq2 <-> transformers id mapping."
import shutil

import pytest
import sentencepiece as spm
import torch

from mlatr_nb.core import LANGUAGES, PAPER_LANGS, SONAR_LANGS
from mlatr_nb.sonar import (FAIRSEQ2_IDS, HF_IDS, PARALLEL_CAPTIONS, SONAR_MAX_LEN, SonarTokenizer, fairseq2_to_hf_ids,
                            hf_to_fairseq2_ids, train_sentencepiece)

ALL_CAPTIONS = [t for lang in PAPER_LANGS for t in PARALLEL_CAPTIONS[lang]]


@pytest.fixture(scope='module')
def sp(spm_file): return spm.SentencePieceProcessor(model_file=str(spm_file))


def test_trained_model_has_nllb_specials(sp):
    assert (sp.unk_id(), sp.bos_id(), sp.eos_id(), sp.pad_id()) == (0, 1, 2, -1)
    for lang in ('jpn_Jpan', 'zho_Hans'):   # every CJK character of the test corpus is a piece, none becomes <unk>
        assert all(0 not in sp.encode(t) for t in PARALLEL_CAPTIONS[lang])


def test_layout_is_lang_pieces_eos(tok, sp):
    for lang in PAPER_LANGS:
        text = PARALLEL_CAPTIONS[lang][5]
        ids = tok(text, lang)['input_ids'][0].tolist()
        assert ids == [tok.lang_id(lang), *[p + 1 for p in sp.encode(text)], HF_IDS.eos]


def test_language_token_ids_follow_nllb(tok, sp):
    V = sp.get_piece_size()
    assert tok.num_pieces == V and tok.embedding_size == V + 206
    for code in SONAR_LANGS:   # all 202, not only the paper's 8
        assert tok.lang_id(code) == V + 1 + LANGUAGES[code].index
    # with the real 256,000-piece model this is 256047 for English
    assert tok.lang_id('eng_Latn') - V == LANGUAGES['eng_Latn'].fairseq2_token_id - 256_000


def test_one_language_per_text(tok):
    texts = [PARALLEL_CAPTIONS[l][0] for l in PAPER_LANGS]
    b = tok(texts, list(PAPER_LANGS))
    assert b['input_ids'][:, 0].tolist() == [tok.lang_id(l) for l in PAPER_LANGS]
    assert tok(texts, 'spa_Latn')['input_ids'][:, 0].tolist() == [tok.lang_id('spa_Latn')] * len(texts)


def test_unknown_language_names_code_and_list(tok):
    with pytest.raises(ValueError, match=r"'en_Latn'.*SONAR_LANGS"): tok(['A dog barks.'], 'en_Latn')
    with pytest.raises(ValueError, match=r"'klingon'"): tok(['a', 'b'], ['eng_Latn', 'klingon'])
    with pytest.raises(ValueError, match='2 language codes for 3 items'): tok(['a', 'b', 'c'], ['eng_Latn', 'fra_Latn'])


@pytest.mark.parametrize('bad', ['', '   ', '\n'])
def test_empty_caption_raises(tok, bad):
    with pytest.raises(ValueError, match='Caption 1 is empty'): tok(['A dog barks.', bad], 'eng_Latn')


def test_non_string_caption_raises(tok):
    with pytest.raises(TypeError, match='Caption 0 is a int'): tok([3], 'eng_Latn')


def test_truncation_keeps_eos(tok, sp):
    long_text = ' '.join(ALL_CAPTIONS * 5)
    b = tok([long_text, 'Short.'], ['eng_Latn', 'fra_Latn'])
    assert b['input_ids'].shape[1] == SONAR_MAX_LEN
    row = b['input_ids'][0].tolist()
    assert row[0] == tok.lang_id('eng_Latn') and row[-1] == HF_IDS.eos
    assert row[1:-1] == [p + 1 for p in sp.encode(long_text)][:SONAR_MAX_LEN - 2]
    short = SonarTokenizer(tok.hf, max_len=10)([long_text], 'eng_Latn')['input_ids'][0].tolist()
    assert len(short) == 10 and short[-1] == HF_IDS.eos
    with pytest.raises(ValueError, match='max_len'): SonarTokenizer(tok.hf, max_len=600)


def test_padding_and_mask(tok):
    texts = ['Hi.', PARALLEL_CAPTIONS['deu_Latn'][4], PARALLEL_CAPTIONS['jpn_Jpan'][1]]
    for ids, pad, eos in (('hf', HF_IDS.pad, HF_IDS.eos), ('fairseq2', FAIRSEQ2_IDS.pad, FAIRSEQ2_IDS.eos)):
        b = tok(texts, ['eng_Latn', 'deu_Latn', 'jpn_Jpan'], ids=ids)
        mask, input_ids = b['attention_mask'], b['input_ids']
        lens = mask.sum(1)
        assert input_ids.dtype == torch.long and mask.shape == input_ids.shape
        assert torch.equal(mask.bool(), torch.arange(input_ids.shape[1]) < lens[:, None])   # right padding
        assert (input_ids[mask == 0] == pad).all()
        assert (input_ids[torch.arange(3), lens - 1] == eos).all()
        assert lens.max() == input_ids.shape[1]


def test_special_id_mapping():
    # DESIGN: fairseq2 <pad>=0 <unk>=1 <s>=2 </s>=3 ; transformers <s>=0 <pad>=1 </s>=2 <unk>=3
    assert (FAIRSEQ2_IDS.pad, FAIRSEQ2_IDS.unk, FAIRSEQ2_IDS.bos, FAIRSEQ2_IDS.eos) == (0, 1, 2, 3)
    assert (HF_IDS.bos, HF_IDS.pad, HF_IDS.eos, HF_IDS.unk) == (0, 1, 2, 3)
    hf = torch.tensor([HF_IDS.bos, HF_IDS.pad, HF_IDS.eos, HF_IDS.unk, 4, 256_047])
    assert hf_to_fairseq2_ids(hf).tolist() == [FAIRSEQ2_IDS.bos, FAIRSEQ2_IDS.pad, FAIRSEQ2_IDS.eos, FAIRSEQ2_IDS.unk, 4, 256_047]
    ids = torch.randint(0, 1000, (5, 7))
    assert torch.equal(fairseq2_to_hf_ids(hf_to_fairseq2_ids(ids)), ids)


def test_fairseq2_convention_differs_only_on_specials(tok):
    texts, langs = [PARALLEL_CAPTIONS[l][2] for l in PAPER_LANGS] + ['Bip ∆ bop'], list(PAPER_LANGS) + ['eng_Latn']
    hf, fs2 = tok(texts, langs), tok(texts, langs, ids='fairseq2')
    assert torch.equal(hf['attention_mask'], fs2['attention_mask'])
    assert torch.equal(fs2['input_ids'], hf_to_fairseq2_ids(hf['input_ids']))
    assert (hf['input_ids'] == HF_IDS.unk).any() and (fs2['input_ids'] == FAIRSEQ2_IDS.unk).any()   # '∆' is unknown
    assert SonarTokenizer(tok.hf, ids='fairseq2')(texts, langs)['input_ids'].equal(fs2['input_ids'])


def test_save_and_reload(tok, tmp_path):
    tok.save_pretrained(tmp_path/'tok')
    again = SonarTokenizer.from_pretrained(tmp_path/'tok')
    texts, langs = [PARALLEL_CAPTIONS[l][7] for l in PAPER_LANGS], list(PAPER_LANGS)
    assert torch.equal(again(texts, langs)['input_ids'], tok(texts, langs)['input_ids'])
    from transformers import AutoTokenizer   # transformers reads the files on its own, with the same token table
    auto = AutoTokenizer.from_pretrained(str(tmp_path/'tok'))
    assert auto.convert_tokens_to_ids(list(SONAR_LANGS)) == [tok.lang_id(c) for c in SONAR_LANGS]


def test_rejects_tokenizer_without_nllb_language_table(spm_file, tmp_path, tok):
    from transformers import NllbTokenizer
    shutil.copy(spm_file, tmp_path/'sentencepiece.bpe.model')
    bare = NllbTokenizer.from_pretrained(str(tmp_path))   # only the .model file
    eng = bare.convert_tokens_to_ids('eng_Latn')
    if eng == 3:                                          # transformers 5.x: no language tokens at all
        with pytest.raises(ValueError, match='no token for 202 NLLB languages'): SonarTokenizer(bare)
    elif eng != tok.lang_id('eng_Latn'):                  # transformers 4.x: <mask> first, languages shifted by one
        with pytest.raises(ValueError, match='only <mask> comes after them'): SonarTokenizer(bare)
    else: assert SonarTokenizer(bare).lang_id('eng_Latn') == tok.lang_id('eng_Latn')


def test_rejects_tokenizer_that_splits_differently_from_sentencepiece(spm_file, tmp_path, tok):
    texts = [c for cs in PARALLEL_CAPTIONS.values() for c in cs][::3]
    other = train_sentencepiece(texts, tmp_path/'other.model', vocab_size=200)
    with pytest.raises(ValueError, match='into other pieces than SentencePiece'): SonarTokenizer(tok.hf, spm_path=other)


def test_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match='SentencePiece model not found'): SonarTokenizer.from_spm(tmp_path/'nope.model')
    with pytest.raises(FileNotFoundError, match='holds no NLLB tokenizer'): SonarTokenizer.from_pretrained(tmp_path)

"""Proof of equality: the `hf` backend (transformers' M2M100Encoder) against sonar-space's own SONAR text encoder.

A small random SONAR text encoder is built with sonar-space's `SonarTextEncoderFactory`, every weight is perturbed (so
LayerNorm scales and biases count), its state dict is converted and loaded into the `hf` backend, and the same captions
go through both tokenizer paths: fairseq2's `NllbTokenizer` for `sonar`, transformers' `NllbTokenizer` for `hf`.
The pooled embeddings must agree to atol 1e-5. CI installs the `sonar` extra, so this file imports sonar-space directly.
"""
import shutil

import pytest
import torch
from sonar.models.sonar_text import get_sonar_text_encoder_hub, SonarTextTransformerEncoderModel   # the `sonar` extra is required here
from fairseq2.nn import BatchLayout

from mlatr_nb.core import PAPER_LANGS
from mlatr_nb.sonar import (FAIRSEQ2_IDS, PARALLEL_CAPTIONS, SONAR_MAX_LEN, Fairseq2SonarTokenizer, SonarTextTower,
                            SonarTokenizer, _import_sonar, _sonar_encoder_config, sonar_config)

ATOL = 1e-5
LONG = ' '.join(PARALLEL_CAPTIONS['eng_Latn'] * 40)    # far beyond 514 tokens: truncation and the last positions
BATCHES = {
    'one caption per paper language': ([PARALLEL_CAPTIONS[l][i] for i, l in enumerate(PAPER_LANGS)], list(PAPER_LANGS)),
    'mixed lengths, unknown characters, truncation': (
        [LONG, 'Bip ∆ bop ✓', 'Ja.', PARALLEL_CAPTIONS['jpn_Jpan'][8], PARALLEL_CAPTIONS['cat_Latn'][3], 'x'],
        ['eng_Latn', 'nld_Latn', 'deu_Latn', 'jpn_Jpan', 'cat_Latn', 'fra_Latn']),
    'one language for the batch': (list(PARALLEL_CAPTIONS['zho_Hans']), 'zho_Hans'),
    'a single caption': ([PARALLEL_CAPTIONS['spa_Latn'][10]], 'spa_Latn'),
    'a language outside the paper set': (['Dog barks.', 'Kunci.'], ['swh_Latn', 'ind_Latn']),
}


@pytest.fixture(scope='module')
def ftok(spm_file): return Fairseq2SonarTokenizer(spm_file)


@pytest.fixture(scope='module')
def cfg(tok): return sonar_config('tiny', vocab_size=tok.embedding_size, num_layers=3, num_heads=4)


@pytest.fixture(scope='module')
def towers(cfg, tok, ftok):
    "(sonar, hf): a random sonar-space model with perturbed weights, and the hf backend loaded from its state dict."
    torch.manual_seed(0)
    ref = SonarTextTower(cfg, backend='sonar', tokenizer=ftok).eval()
    assert isinstance(ref.encoder, SonarTextTransformerEncoderModel)
    with torch.no_grad():
        for p in ref.parameters(): p.add_(0.05 * torch.randn_like(p))
    hf = SonarTextTower(cfg, backend='hf', tokenizer=tok).eval()
    hf.load_weights(ref.encoder.state_dict(), layout='fairseq2', source='sonar-space model')
    return ref, hf


def embed(tower, texts, langs):
    with torch.no_grad(): return tower.encode(texts, langs)


@pytest.mark.parametrize('name', BATCHES)
def test_tokenizer_paths_agree(name, tok, ftok):
    texts, langs = BATCHES[name]
    for ids in ('fairseq2', 'hf'):
        a, b = ftok(texts, langs, ids=ids), tok(texts, langs, ids=ids)
        assert torch.equal(a['input_ids'], b['input_ids']) and torch.equal(a['attention_mask'], b['attention_mask'])
    assert ftok(texts, langs)['input_ids'].shape[1] <= SONAR_MAX_LEN


def test_fairseq2_tokenizer_is_nllb(ftok, tok):
    assert ftok.fs2.vocab_info.pad_idx == FAIRSEQ2_IDS.pad and ftok.fs2.vocab_info.eos_idx == FAIRSEQ2_IDS.eos
    assert ftok.embedding_size == tok.embedding_size
    raw = ftok.fs2.create_encoder(lang='eng_Latn', mode='source')('A dog.').tolist()   # fairseq2's own layout, untouched
    assert raw == tok('A dog.', 'eng_Latn', ids='fairseq2')['input_ids'][0].tolist()


@pytest.mark.parametrize('name', BATCHES)
def test_pooled_embeddings_agree(name, towers):
    ref, hf = towers
    texts, langs = BATCHES[name]
    e_ref, e_hf = embed(ref, texts, langs), embed(hf, texts, langs)
    assert e_ref.shape == e_hf.shape == (len(texts), ref.dim)
    assert e_ref.abs().mean() > 0.1                        # a real signal, not two vectors of zeros
    torch.testing.assert_close(e_hf, e_ref, atol=ATOL, rtol=0)


def test_token_states_agree(towers, tok, ftok):
    "Below the pooling too: every real token's final state matches (sonar-space's `encoded_seqs` vs `last_hidden_state`)."
    ref, hf = towers
    texts, langs = BATCHES['mixed lengths, unknown characters, truncation']
    fb, hb = ftok(texts, langs), tok(texts, langs)
    lens = fb['attention_mask'].sum(1)
    with torch.no_grad():
        out = ref.encoder(fb['input_ids'], BatchLayout.of(fb['input_ids'], seq_lens=lens.tolist()))
        hidden = hf.encoder(**hb).last_hidden_state
    mask = hb['attention_mask'].bool()
    # single tokens of a 514-token sequence carry float32 round-off of ~1e-5 (order of summation differs between the
    # two attention kernels); the mean over tokens averages it out, hence the tighter 1e-5 on the pooled vectors above
    torch.testing.assert_close(hidden[mask], out.encoded_seqs[mask], atol=1e-4, rtol=1e-5)


def test_gradients_agree(cfg, towers):
    "Training sees the same function: gradients of the same loss match after mapping the parameter names."
    ref, hf = towers
    texts, langs = BATCHES['one caption per paper language']
    w = torch.randn(len(texts), cfg.model_dim, generator=torch.Generator().manual_seed(1))
    for t in towers: t.zero_grad(); (t.encode(texts, langs) * w).sum().backward()
    pairs = (('encoder.layers.0.ffn.inner_proj.weight', 'layers.0.fc1.weight'),
             ('encoder.layers.2.self_attn.output_proj.weight', 'layers.2.self_attn.out_proj.weight'),
             ('encoder.layers.1.self_attn_layer_norm.weight', 'layers.1.self_attn_layer_norm.weight'),
             ('layer_norm.bias', 'layer_norm.bias'))
    g_ref, g_hf = dict(ref.encoder.named_parameters()), dict(hf.encoder.named_parameters())
    for k_ref, k_hf in pairs: torch.testing.assert_close(g_hf[k_hf].grad, g_ref[k_ref].grad, atol=1e-4, rtol=1e-4)
    emb_ref, emb_hf = g_ref['encoder_frontend.embed.weight'].grad, g_hf['embed_tokens.weight'].grad
    torch.testing.assert_close(emb_hf[4:], emb_ref[4:], atol=1e-4, rtol=1e-4)   # the pieces and languages used by the batch


def test_checkpoints_cross_backends(towers, spm_file, tmp_path):
    ref, hf = towers
    texts, langs = BATCHES['one caption per paper language']
    expected = embed(ref, texts, langs)
    # the published form: a fairseq2 state dict under "model", next to SONAR's SentencePiece file
    torch.save({'model': ref.encoder.state_dict()}, tmp_path/'sonar_text_encoder.pt')
    shutil.copy(spm_file, tmp_path/'sentencepiece.source.256000.model')
    for backend in ('hf', 'sonar'):
        loaded = SonarTextTower.from_pretrained(tmp_path/'sonar_text_encoder.pt', backend=backend, config=ref.config)
        torch.testing.assert_close(embed(loaded, texts, langs), expected, atol=ATOL, rtol=0)
    # transformers' layout, written by either backend, read by the other
    ref.save_pretrained(tmp_path/'from_sonar'); hf.save_pretrained(tmp_path/'from_hf')
    for folder, backend in (('from_sonar', 'hf'), ('from_hf', 'sonar'), ('from_sonar', 'sonar')):
        loaded = SonarTextTower.from_pretrained(tmp_path/folder, backend=backend)
        assert isinstance(loaded.tokenizer, Fairseq2SonarTokenizer if backend == 'sonar' else SonarTokenizer)
        torch.testing.assert_close(embed(loaded, texts, langs), expected, atol=ATOL, rtol=0)


def test_basic_config_is_sonar_space_basic():
    ours = _sonar_encoder_config(sonar_config('basic'), _import_sonar())
    assert ours == get_sonar_text_encoder_hub().get_arch_config('basic')
    with torch.device('meta'):
        counts = [sum(p.numel() for p in SonarTextTower('basic', backend=b).parameters()) for b in ('hf', 'sonar')]
    assert counts == [766_091_264, 766_091_264]


def test_sonar_backend_is_trainable_and_checks_padding(towers, ftok):
    ref, _ = towers
    texts, langs = BATCHES['one caption per paper language']
    ref.train()
    try:
        out = ref.encode(texts, langs)
        assert out.requires_grad
        out.sum().backward()
        assert ref.encoder.encoder_frontend.embed.weight.grad is not None
    finally: ref.eval(); ref.zero_grad()
    b = ftok(texts, langs)
    with pytest.raises(ValueError, match='right-padded'): ref(b['input_ids'].flip(1), b['attention_mask'].flip(1))

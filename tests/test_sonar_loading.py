"SONAR text tower: configs, pooling, training behaviour, checkpoint conversion and loaders (no sonar-space needed)."
import json, shutil, sys

import pytest
import torch
from safetensors.torch import save_file
from transformers.models.m2m_100.modeling_m2m_100 import M2M100Encoder

from mlatr_nb.core import PAPER_LANGS
from mlatr_nb.sonar import (FAIRSEQ2_IDS, HF_IDS, PARALLEL_CAPTIONS, SonarTextTower, convert_fairseq2_sonar,
                            convert_to_fairseq2_sonar, load_state_dict_strict, masked_mean, sonar_config)

TEXTS = [PARALLEL_CAPTIONS[l][i] for i, l in enumerate(PAPER_LANGS)]
LANGS = list(PAPER_LANGS)


@pytest.fixture(scope='module')
def cfg(tok): return sonar_config('tiny', vocab_size=tok.embedding_size)


@pytest.fixture()
def tower(cfg, tok):
    torch.manual_seed(0)
    return SonarTextTower(cfg, tokenizer=tok).eval()


def embed(tower, texts=TEXTS, langs=LANGS):
    with torch.no_grad(): return tower.encode(texts, langs)


def test_basic_config_and_parameter_count():
    c = sonar_config('basic')
    assert (c.model_dim, c.num_layers, c.num_heads, c.ffn_dim, c.vocab_size, c.max_seq_len) == (1024, 24, 16, 8192, 256_206, 514)
    with torch.device('meta'): big = SonarTextTower('basic')   # same code path, no 3 GB allocation
    assert sum(p.numel() for p in big.parameters()) == 766_091_264
    assert big.dim == 1024


def test_hf_backend_settings(tower):
    cfg = tower.encoder.config
    assert cfg.encoder_layerdrop == 0.0 and cfg.scale_embedding and cfg.activation_function == 'relu'
    assert cfg.pad_token_id == HF_IDS.pad and cfg._attn_implementation == 'sdpa'


def test_pooling_is_mean_over_real_tokens(tower, tok):
    b = tok(TEXTS, LANGS)
    with torch.no_grad():
        hidden = tower.encoder(**b).last_hidden_state
        expected = torch.stack([hidden[i, :n].mean(0) for i, n in enumerate(b['attention_mask'].sum(1).tolist())])
        torch.testing.assert_close(tower(**b), expected, atol=1e-5, rtol=0)
        torch.testing.assert_close(masked_mean(hidden, b['attention_mask']), expected, atol=1e-5, rtol=0)


def test_padding_does_not_change_embeddings(tower):
    alone = torch.cat([embed(tower, [t], l) for t, l in zip(TEXTS, LANGS)])
    torch.testing.assert_close(embed(tower), alone, atol=1e-5, rtol=0)


def test_any_pad_id_gives_same_result(tower, tok):
    b = tok(TEXTS, LANGS)
    other = dict(b, input_ids=b['input_ids'].masked_fill(b['attention_mask'] == 0, 42))
    with torch.no_grad(): torch.testing.assert_close(tower(**other), tower(**b), atol=1e-6, rtol=0)


def test_trainable_and_no_layer_drop(cfg, tok):
    torch.manual_seed(0)
    t = SonarTextTower(sonar_config('tiny', vocab_size=cfg.vocab_size, dropout=0.0), tokenizer=tok)
    with torch.no_grad(): ref = t.eval().encode(TEXTS, LANGS)
    t.train()
    out = t.encode(TEXTS, LANGS)                      # no dropout and no layer drop: train mode is deterministic
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=0)
    assert out.requires_grad and out.shape == (8, cfg.model_dim)
    opt = torch.optim.SGD(t.parameters(), lr=0.1)
    before = t.encoder.layers[0].fc1.weight.detach().clone()
    out.pow(2).mean().backward(); opt.step()
    assert not torch.equal(before, t.encoder.layers[0].fc1.weight)


def test_language_token_changes_embedding(tower):
    assert not torch.allclose(embed(tower, TEXTS[0], 'eng_Latn'), embed(tower, TEXTS[0], 'deu_Latn'))


def test_errors(cfg, tok, tower):
    with pytest.raises(ValueError, match="'hf' or 'sonar'"): SonarTextTower(cfg, backend='jax')
    with pytest.raises(ValueError, match='vocab_size=tokenizer.embedding_size'): SonarTextTower(sonar_config('tiny', vocab_size=100), tokenizer=tok)
    with pytest.raises(ValueError, match='no tokenizer'): SonarTextTower(cfg).encode('A dog.', 'eng_Latn')
    with pytest.raises(ValueError, match='exceed max_seq_len'): tower(torch.ones(1, 515, dtype=torch.long), torch.ones(1, 515))
    with pytest.raises(ValueError, match='must both be'): tower(torch.ones(2, 5, dtype=torch.long), torch.ones(2, 4))
    with pytest.raises(ValueError, match="Unknown SONAR config 'giant'"): sonar_config('giant')
    with pytest.raises(ValueError, match="'fr'"): tower.encode('Un chien.', 'fr')


def test_sonar_backend_missing_says_how_to_install(cfg, monkeypatch):
    monkeypatch.setitem(sys.modules, 'sonar.models.sonar_text', None)   # as if sonar-space were not installed
    with pytest.raises(ImportError, match=r"pip install 'mlatr_nb\[sonar\]'.*libsndfile1"): SonarTextTower(cfg, backend='sonar')


def test_conversion_round_trip_and_row_order(tower):
    hf = tower.encoder.state_dict()
    fs2 = convert_to_fairseq2_sonar(hf)
    emb_hf, emb_fs2 = hf['embed_tokens.weight'], fs2['encoder_frontend.embed.weight']
    for tok_name in ('bos', 'pad', 'eos', 'unk'):
        assert torch.equal(emb_fs2[getattr(FAIRSEQ2_IDS, tok_name)], emb_hf[getattr(HF_IDS, tok_name)])
    assert torch.equal(emb_hf[:4], emb_fs2[[2, 0, 3, 1]])   # DESIGN: rows 0..3 of a converted embedding are fairseq2's [2,0,3,1]
    assert 'encoder.layers.1.self_attn.output_proj.weight' in fs2 and 'encoder.layers.0.ffn_layer_norm.bias' in fs2
    back = convert_fairseq2_sonar({'model': fs2})
    assert set(back) == set(hf) and all(torch.equal(back[k], hf[k]) for k in hf)


def test_strict_loading_names_bad_keys(cfg, tower):
    sd = tower.hf_state_dict()
    sd.pop('layers.1.fc2.weight'); sd['layers.0.fc1.bias'] = torch.zeros(3); sd['surprise.weight'] = torch.zeros(1)
    with pytest.raises(ValueError) as e: load_state_dict_strict(SonarTextTower(cfg).encoder, sd, 'ckpt.safetensors')
    msg = str(e.value)
    assert 'ckpt.safetensors' in msg and 'layers.1.fc2.weight' in msg and 'surprise.weight' in msg and 'layers.0.fc1.bias (3,)' in msg
    with pytest.raises(ValueError, match='Not a fairseq2 SONAR text-encoder key: decoder.x'):
        convert_fairseq2_sonar({'model': {'decoder.x': torch.zeros(1)}})


def test_save_and_load_transformers_layout(tower, tmp_path):
    ref = embed(tower)
    tower.save_pretrained(tmp_path/'tower')
    cfg = json.loads((tmp_path/'tower'/'config.json').read_text())
    assert cfg['model_type'] == 'm2m_100' and cfg['encoder_layerdrop'] == 0.0 and cfg['scale_embedding'] is True
    assert not list((tmp_path/'tower').glob('*.tmp'))
    loaded = SonarTextTower.from_pretrained(tmp_path/'tower')
    assert loaded.config == tower.config and not loaded.training
    torch.testing.assert_close(embed(loaded), ref, atol=1e-6, rtol=0)
    hf = M2M100Encoder.from_pretrained(str(tmp_path/'tower')).eval()   # transformers reads the folder by itself too
    b = loaded.tokenizer(TEXTS, LANGS)
    with torch.no_grad(): torch.testing.assert_close(masked_mean(hf(**b).last_hidden_state, b['attention_mask']), ref, atol=1e-5, rtol=0)


def test_load_community_port_layout(tower, tok, tmp_path):
    "A folder written by transformers itself (M2M100Encoder + NllbTokenizerFast), like cointegrated/SONAR_200_text_encoder."
    from transformers import NllbTokenizerFast
    folder = tmp_path/'port'
    M2M100Encoder(tower.encoder.config).save_pretrained(str(folder))   # transformers' own config.json and weights
    fresh = SonarTextTower.from_pretrained(folder, tokenizer=tok)
    tower.encoder.save_pretrained(str(folder))
    tok.save_pretrained(tmp_path/'tok')
    NllbTokenizerFast.from_pretrained(str(tmp_path/'tok')).save_pretrained(str(folder))
    (folder/'sentencepiece.bpe.model').unlink(missing_ok=True)           # only tokenizer.json: the fast tokenizer is used
    port = SonarTextTower.from_pretrained(folder)
    torch.testing.assert_close(embed(port), embed(tower), atol=1e-6, rtol=0)
    assert not torch.allclose(embed(fresh), embed(tower))


def test_prefixed_sharded_and_bin_weights(tower, tmp_path):
    ref = embed(tower)
    tower.save_pretrained(tmp_path/'base')
    sd = {f'model.encoder.{k}': v.contiguous() for k, v in tower.hf_state_dict().items()}
    keys = sorted(sd)
    for name, write in (('sharded', 'shards'), ('bin', 'bin')):
        folder = tmp_path/name
        shutil.copytree(tmp_path/'base', folder); (folder/'model.safetensors').unlink()
        if write == 'shards':
            halves = {'a.safetensors': keys[:len(keys)//2], 'b.safetensors': keys[len(keys)//2:]}
            for f, ks in halves.items(): save_file({k: sd[k] for k in ks}, str(folder/f))
            (folder/'model.safetensors.index.json').write_text(json.dumps({'weight_map': {k: f for f, ks in halves.items() for k in ks}}))
        else: torch.save(sd, folder/'pytorch_model.bin')
        torch.testing.assert_close(embed(SonarTextTower.from_pretrained(folder)), ref, atol=1e-6, rtol=0)


def test_load_fairseq2_checkpoint(tower, spm_file, tmp_path):
    ref = embed(tower)
    fs2 = convert_to_fairseq2_sonar(tower.hf_state_dict())
    fs2['encoder_frontend.pos_encoder.freqs'] = torch.zeros(3, 3)        # a computed buffer is tolerated and dropped
    torch.save({'model': fs2}, tmp_path/'sonar_text_encoder.pt')
    with pytest.raises(FileNotFoundError, match='pass spm='): SonarTextTower.from_pretrained(tmp_path/'sonar_text_encoder.pt')
    shutil.copy(spm_file, tmp_path/'sentencepiece.source.256000.model')  # SONAR's file name, next to the checkpoint
    loaded = SonarTextTower.from_pretrained(tmp_path/'sonar_text_encoder.pt')
    assert loaded.config == tower.config                                  # shape read off the tensors
    torch.testing.assert_close(embed(loaded), ref, atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match='wrong shapes'):
        SonarTextTower.from_pretrained(tmp_path/'sonar_text_encoder.pt', config=sonar_config('tiny', vocab_size=tower.config.vocab_size, ffn_dim=64))


def test_loader_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='No SONAR checkpoint'): SonarTextTower.from_pretrained(tmp_path/'nothing')
    with pytest.raises(FileNotFoundError, match='has no config.json'): SonarTextTower.from_pretrained(tmp_path)

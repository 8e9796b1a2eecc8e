"""Multilingual audio-text retrieval in PyTorch: ML-CLAP language enhancement, ATRI's KCL/CACL and two-stage distillation, built and tested in notebooks.

Modules:

- `mlatr_nb.ced`: The CED audio encoder (tiny / mini / small / base): a plain ViT over 16 x 16 log-mel patches, with masked attention, long-audio chunking and loaders for both published checkpoint layouts.
- `mlatr_nb.data`: The caption schema and manifests: one typed list of clips with their captions in any number of languages, read from JSON lines, CSV, parquet, `datasets`, or the AudioCaps / Clotho / WavCaps layouts, and checked before anything trains.
- `mlatr_nb.distill`: Stage 2 of the estimated-correspondences method: an ensemble of stage-1 models embeds every training clip and caption once, and the student learns from their soft audio-caption matches instead of one-hot labels.
- `mlatr_nb.eval`: Retrieval metrics in both directions, cross-language consistency (MRV, embedding gap), and the tables and plots built from them.
- `mlatr_nb.losses`: Multi-positive InfoNCE, the language-enhancement batch, ATRI's KCL and CACL, the distillation loss of estimated correspondences, and a gradient-cached KCL whose memory does not grow with the number of languages.
- `mlatr_nb.model`: The ML-CLAP dual encoder: a CED audio tower and a SONAR text tower, projected into one L2-normalised space with a learnable temperature, plus `embed_audio` / `embed_text` / `score` and saving and loading.
- `mlatr_nb.prepare`: `mlatr-prepare DATASET ROOT --output-dir DIR`: one checked manifest per split from a downloaded copy of AudioCaps, Clotho, WavCaps or MACS, with missing and unreadable clips dropped and reported, and evaluation clips kept out of training data.
- `mlatr_nb.sampling`: The samplers of each objective (InfoNCE, the LE mixture, random-language sampling, KCL, CACL), length-aware batching, random crops, and the DataLoader that decodes audio in workers and reports every clip it has to skip.
- `mlatr_nb.search`: Embed a sound collection once, incrementally and resumably, and search it with a caption in any SONAR language or with a clip: exact search by one matrix product, and the `mlatr-search` script.
- `mlatr_nb.synthetic`: A multilingual audio-caption set made from numpy alone: composable sound attributes, their waveforms, hand-written caption templates in the 8 languages of the papers, and a small tokenizer for the tiny text tower.
- `mlatr_nb.theory`: ATRI's weight-error upper bound, derived step by step, the data-distribution error of four ways of sampling languages, and a numerical check of the bound on a problem where every constant is known.
- `mlatr_nb.train`: The Accelerate training loop: one objective per sampler, global negatives across processes, atomic checkpoints with exact resume, two-stage recipes, and the `mlatr-train` script.
- `mlatr_nb.translate`: Turn an English manifest (or one in any language) into a multilingual one for language enhancement, KCL and CACL: `translate_manifest` and `mlatr-translate`, with NLLB-200 or the SONAR decoder, resumable, and checked."""

__version__ = "0.0.1"

"""What sentence-transformers does with a text, read from the model folder's own config, and
whether the ONNX engine reproduces it (Transformer -> mean Pooling [-> Normalize], fast tokenizer,
no default prompt); and what identifies the model's files."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

INPUTS = ("input_ids", "attention_mask", "token_type_ids")


@dataclass
class Pipeline:
    """What sentence-transformers does with a text, as read from the model folder's own config."""

    max_seq_length: int
    dim: int
    normalize_module: bool  # a Normalize module (the vectors are normalised either way: encode(normalize_embeddings=True))
    pad_id: int
    pad_token: str
    pooling: str = "mean"


def read_pipeline(model_path: str | Path) -> tuple[Pipeline | None, str]:
    """(pipeline, "") when the folder's model is Transformer -> mean Pooling [-> Normalize] with a fast
    tokenizer and no default prompt, the pipeline this module reproduces; else (None, why not)."""
    root = Path(model_path)
    if not root.is_dir():
        return None, f"{model_path} is not a local model folder"
    try:
        modules = json.loads((root / "modules.json").read_text())
        kinds = [str(m.get("type", "")) for m in modules]
        short = [k.rsplit(".", 1)[-1] for k in kinds]
        if short not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]) or not all(
                k.startswith("sentence_transformers.") for k in kinds):
            return None, (f"pipeline {' -> '.join(short) or '(none)'}: the ONNX engine reproduces "
                          "Transformer -> Pooling (mean) [-> Normalize] only")
        if str(modules[0].get("path", "")) not in ("", "."):
            return None, "the transformer is not at the model folder's root"
        pooling = json.loads((root / str(modules[1].get("path", "")) / "config.json").read_text())
        modes = {k: v for k, v in pooling.items() if k.startswith("pooling_mode_")}
        others = sorted(k for k, v in modes.items() if v and k != "pooling_mode_mean_tokens")
        if not modes.get("pooling_mode_mean_tokens") or others:
            return None, f"pooling {', '.join(others) or 'without mean tokens'}: the ONNX engine reproduces mean pooling only"
        sbert_path = root / "sentence_bert_config.json"
        if not sbert_path.is_file():
            return None, "no sentence_bert_config.json (max_seq_length unknown)"
        sbert = json.loads(sbert_path.read_text())
        if sbert.get("do_lower_case"):
            return None, "do_lower_case is set in sentence_bert_config.json"
        extra = sorted(k for k, v in sbert.items() if k not in ("max_seq_length", "do_lower_case") and v)
        if extra:
            return None, f"sentence_bert_config.json sets {', '.join(extra)}"
        max_len = sbert.get("max_seq_length")
        if not isinstance(max_len, int) or max_len < 1:
            return None, "sentence_bert_config.json has no max_seq_length"
        config = json.loads((root / "config.json").read_text())
        pos = config.get("max_position_embeddings")
        if isinstance(pos, int) and pos > 0:
            max_len = min(max_len, pos)  # sentence-transformers caps it the same way
        cst_path = root / "config_sentence_transformers.json"
        if cst_path.is_file():
            cst = json.loads(cst_path.read_text())
            default = cst.get("default_prompt_name")
            if default and (cst.get("prompts") or {}).get(default):
                return None, f'a default prompt ("{default}") is prepended to every text'
        tok_path = root / "tokenizer.json"
        if not tok_path.is_file():
            return None, "no tokenizer.json (fast tokenizer)"
        tok = json.loads(tok_path.read_text())
        padding = tok.get("padding") or {}
        pad_token = padding.get("pad_token")
        pad_id = padding.get("pad_id")
        if pad_token is None:
            special = root / "special_tokens_map.json"
            pad = json.loads(special.read_text()).get("pad_token") if special.is_file() else None
            pad_token = pad.get("content") if isinstance(pad, dict) else pad
            if pad_token is None:
                return None, "no padding token"
            vocab = (tok.get("model") or {}).get("vocab")
            pad_id = vocab.get(pad_token) if isinstance(vocab, dict) else None
        if not isinstance(pad_id, int):
            return None, "the padding token's id is unknown"
        dim = pooling.get("word_embedding_dimension")
        if not isinstance(dim, int) or dim < 1:
            return None, "1_Pooling/config.json has no word_embedding_dimension"
    except (OSError, ValueError, TypeError, AttributeError, IndexError) as e:
        return None, f"cannot read the model's configuration ({type(e).__name__}: {str(e)[:120]})"
    return Pipeline(max_len, dim, "Normalize" in short, pad_id, str(pad_token)), ""


def source_fingerprint(model_path: str | Path) -> str:
    """What identifies the model's files: the content of the small ones (configs, tokenizer), the
    size and modification time of the weights (hashing 90 MB on every crawl would cost more than a
    re-crawl with nothing changed)."""
    h = hashlib.sha256()
    root = Path(model_path)
    for p in sorted(x for x in root.rglob("*") if x.is_file()):
        rel = p.relative_to(root).as_posix()
        if rel.startswith(".") or "/." in rel or rel.endswith(".md"):
            continue
        st = p.stat()
        h.update(rel.encode() + b"\0")
        if st.st_size <= 4 << 20:
            h.update(hashlib.sha256(p.read_bytes()).digest())
        else:
            h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()

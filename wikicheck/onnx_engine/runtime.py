"""The exported model run by ONNX Runtime: the query side. Imports numpy, tokenizers and
onnxruntime only, never torch, transformers or sentence_transformers."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..embed import head_of
from .pipeline import INPUTS, Pipeline


def _env_threads() -> int | None:
    """OMP_NUM_THREADS, which caps torch's threads, caps ONNX Runtime's too (its own pool ignores it):
    one setting for a container or a machine shared by several processes."""
    import os

    raw = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else None


class OnnxEmbedder:
    """The exported model in ONNX Runtime with the model's fast tokenizer: tokenize (truncated to
    max_seq_length, the model's special tokens), transformer, mean pooling over the attention mask,
    L2 normalisation. Same vectors as SentenceTransformerEmbedder (verified at export)."""

    engine = "onnx"

    def __init__(self, model_id: str, model: bytes | str | Path, tokenizer_file: str | Path, pipeline: Pipeline,
                 batch_size: int = 32, threads: int | None = None):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.model_id = model_id
        self.batch_size = batch_size
        self.pipeline = pipeline
        tok = Tokenizer.from_file(str(tokenizer_file))
        tok.no_padding()
        tok.no_truncation()
        tok.enable_truncation(max_length=pipeline.max_seq_length)
        tok.enable_padding(pad_id=pipeline.pad_id, pad_token=pipeline.pad_token)
        self.tokenizer = tok
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        threads = threads or _env_threads()
        if threads:
            opts.intra_op_num_threads = threads
        data = model if isinstance(model, bytes) else str(model)
        self.session = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        unknown = set(self.inputs) - set(INPUTS)
        if unknown:
            raise ValueError(f"the ONNX model wants inputs {sorted(unknown)}")

    @property
    def dim(self) -> int:
        return self.pipeline.dim

    def _head(self, text: str) -> str:
        return head_of(text, self.pipeline.max_seq_length)

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        """The ids the model sees for each text (no padding): for comparing with the torch tokenizer."""
        return [e.ids[:sum(e.attention_mask)] for e in self.tokenizer.encode_batch([self._head(t) for t in texts])]

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype="float32")
        if not texts:
            return out
        cut = [self._head(t) for t in texts]
        order = sorted(range(len(cut)), key=lambda i: -len(cut[i]))  # batches of similar length: less padding
        for s in range(0, len(order), self.batch_size):
            idx = order[s:s + self.batch_size]
            enc = self.tokenizer.encode_batch([cut[i] for i in idx])
            arrays = {
                "input_ids": np.array([e.ids for e in enc], dtype="int64"),
                "attention_mask": np.array([e.attention_mask for e in enc], dtype="int64"),
                "token_type_ids": np.array([e.type_ids for e in enc], dtype="int64"),
            }
            hidden = self.session.run(None, {n: arrays[n] for n in self.inputs})[0]
            mask = arrays["attention_mask"][..., None].astype(hidden.dtype)
            vec = (hidden * mask).sum(1) / np.clip(mask.sum(1), 1e-9, None)
            vec /= np.clip(np.linalg.norm(vec, axis=1, keepdims=True), 1e-12, None)
            out[idx] = vec
        return out

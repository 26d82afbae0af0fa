"""RNN-T speech recognition (MLPerf inference and training, LibriSpeech), LSTM-based.

Published architecture: Graves, "Sequence Transduction with Recurrent Neural Networks",
arXiv 1211.3711 (the transducer); sizes of the MLPerf reference (mlcommons/inference
speech_recognition/rnnt/pytorch/configs/rnnt.toml; He et al., ICASSP 2019 "Streaming End-to-end
Speech Recognition for Mobile Devices" for the design):
- features: 80 log-mel bins, 3 frames stacked and subsampled by 3 -> 240 inputs per 30 ms step;
- encoder: 2 "pre" LSTM layers of 1024, time reduction by stacking 2 steps (-> 2048 inputs,
  half the steps), 3 "post" LSTM layers of 1024;
- prediction network: embedding of the 28 characters + blank (29) into 320, 2 LSTM layers of
  320;
- joint network: encoder output 1024 -> 512 and prediction output 320 -> 512, add, ReLU,
  512 -> 29 logits.

Inference is greedy decoding: the joint runs once per encoder step plus once per emitted label
(`labels`), the prediction network once per emitted label. With greedy=False the joint runs on
the full T x (U+1) lattice, the way training computes the transducer loss.
"""
from __future__ import annotations

from archsim.graph import Graph, GraphBuilder, register_workload

from workloads._common import check_positive

ENC_HIDDEN, PRED_HIDDEN, JOINT_HIDDEN, VOCAB, FEATURES = 1024, 320, 512, 29, 240


@register_workload("rnnt", "RNN-T (MLPerf): 5-layer LSTM encoder 1024 with time reduction, "
                           "2-layer prediction net 320, joint net 512")
def rnnt(batch: int = 16, frames: int = 500, labels: int = 120, dtype: str = "bf16",
         layers: int = 5, greedy: bool = True) -> Graph:
    """frames: encoder input steps (30 ms each; 500 = 15 s of audio); labels: characters
    emitted; layers: encoder LSTM layers (1..5; the first two run before time reduction)."""
    check_positive(batch=batch, frames=frames, labels=labels, layers=layers)
    layers = min(layers, 5)
    b = GraphBuilder("rnnt", dtype, {"family": "rnn", "batch": batch, "frames": frames,
                                     "labels": labels, "layers": layers})
    x = b.input("features", (frames, batch, FEATURES))
    T = frames
    with b.scope("encoder"):
        for i in range(min(layers, 2)):
            x = b.lstm(x, ENC_HIDDEN, name=f"pre{i}")
        # time reduction: stack pairs of steps (a view of the contiguous [T, B, H] sequence
        # as [T/2, B, 2H] needs the batch-major order cuDNN keeps; modelled as a copy)
        T = T // 2
        x = b.copy(b.view(x, (T, batch, 2 * x.shape[-1]), name="stack_time"), name="time_reduce")
        for i in range(max(layers - 2, 0)):
            x = b.lstm(x, ENC_HIDDEN, name=f"post{i}")
    with b.scope("prediction"):
        emb = b.gather(b.param("embed", (VOCAB, PRED_HIDDEN)), b.index("labels", (labels, batch)),
                       name="embed")
        p = emb
        for i in range(2):
            p = b.lstm(p, PRED_HIDDEN, name=f"lstm{i}")
    with b.scope("joint"):
        if greedy:  # one joint evaluation per step taken: T encoder steps + U emissions
            n = T + labels
            f = b.linear(b.view(x, (T * batch, x.shape[-1]), name="enc_rows"), JOINT_HIDDEN,
                         name="enc_proj")
            g = b.linear(b.view(p, (labels * batch, PRED_HIDDEN), name="pred_rows"),
                         JOINT_HIDDEN, name="pred_proj")
            # each evaluation adds one encoder row and one prediction row
            h = b._emit("elementwise", (f, g), (n * batch, JOINT_HIDDEN), f.dtype, "add",
                        fn="add")
        else:  # the full lattice of training: [B, T, U+1, 512]
            f = b.linear(b.view(x, (batch, T, 1, x.shape[-1]), name="enc_rows"), JOINT_HIDDEN,
                         name="enc_proj")
            g = b.linear(b.view(p, (batch, 1, labels, PRED_HIDDEN), name="pred_rows"),
                         JOINT_HIDDEN, name="pred_proj")
            h = b.elementwise("add", f, g, name="add")
        b.linear(b.relu(h, name="relu"), VOCAB, name="out")
    return b.build()

"""Baselines that need TensorFlow, for ``edge-lstm bench --keras``: Keras and LiteRT re-running a
sliding window for every new sample."""

from __future__ import annotations

from typing import Any

import numpy as np

from edge_lstm.runtime.timing import Row


def bench_windowed(keras_path: str, window: int, features: int, budget_s: float) -> list[Row]:
    """Keras and LiteRT re-running the whole window for each new sample (one stream)."""
    from converter.convert import load_keras
    from converter.quiet import tensorflow_quiet

    rows = [Row(name=f"keras predict on a {window}-sample window", kind="baseline"),
            Row(name=f"litert on a {window}-sample window", kind="baseline")]
    with tensorflow_quiet():
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        model = load_keras(keras_path)
    x = np.random.default_rng(0).normal(size=(1, window, features)).astype(np.float32)
    fn = tf.function(tf.autograph.experimental.do_not_convert(lambda v: model(v, training=False)),
                     input_signature=[tf.TensorSpec(x.shape, tf.float32)])
    rows[0].time(1, lambda: fn(x), budget_s)
    rows[0].note = "tf.function, 1 thread"
    try:
        from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

        with tensorflow_quiet():
            frozen = convert_variables_to_constants_v2(fn.get_concrete_function())
            data = tf.lite.TFLiteConverter.from_concrete_functions([frozen]).convert()
        from edge_lstm.runtime.kernels.litert import _interpreter_class

        interpreter = _interpreter_class()(model_content=data, num_threads=1)
        interpreter.allocate_tensors()
        (source,), (result,) = interpreter.get_input_details(), interpreter.get_output_details()  # one each

        def invoke() -> Any:
            interpreter.set_tensor(source["index"], x)
            interpreter.invoke()
            return interpreter.get_tensor(result["index"])

        rows[1].time(1, invoke, budget_s)
        rows[1].note = "float32 sequence model, batch 1, 1 thread"
    except Exception as exc:  # the TFLite converter raises many types
        rows[1].note = f"conversion failed: {type(exc).__name__}: {str(exc)[:120]}"
    return rows

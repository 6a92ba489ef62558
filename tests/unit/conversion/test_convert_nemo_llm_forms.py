"""`nemo llm import/export`'s key=value spellings (source=, path=, output_path=, overwrite=, target=hf)
do what the flags do: a real round trip through them, and one-line errors for what they cannot mean."""

from __future__ import annotations

import pytest

from recipes.conversion.command import main


def test_key_value_round_trip(tmp_path, tiny_hf):
    nemo_out, hf_out = tmp_path / "nemo_ckpt" / "tiny", tmp_path / "hf_ckpt" / "tiny"
    assert main(["import", f"source=hf://{tiny_hf}", f"output_path={nemo_out}", "overwrite=false"]) == 0
    assert (nemo_out / "context").is_dir() and (nemo_out / "weights").is_dir()
    assert main(["export", f"path={nemo_out}", "target=hf", f"output_path={hf_out}"]) == 0
    assert (hf_out / "config.json").is_file()
    # overwrite=false keeps the tutorial's meaning (their `type=bool` made "False" true): refused.
    assert main(["import", f"source=hf://{tiny_hf}", f"output_path={nemo_out}", "overwrite=false"]) == 2
    assert main(["import", f"source=hf://{tiny_hf}", f"output_path={nemo_out}", "overwrite=true"]) == 0


@pytest.mark.parametrize("word, expected", [
    ("target=onnx", "only target=hf"), ("model=llama31_8b", "architecture is read from the source"),
    ("overwrite=maybe", "overwrite=true or overwrite=false"), ("colour=red", "unknown key 'colour'"),
])
def test_key_value_errors(tmp_path, capsys, word, expected):
    assert main(["export", f"path={tmp_path}", f"output_path={tmp_path / 'out'}", word, "target=x"]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_paths_holding_equals_signs_stay_paths():
    """NeMo's checkpoint names (`...--val_loss=0.00-step=9-last`) are flag values, not key=value words."""
    from recipes.conversion.nemo_llm_forms import translate

    ckpt = "results/x/checkpoints/x--val_loss=0.00-step=9-consumed_samples=80.0-last"
    assert translate(["export", "--source", ckpt, "--output_path", "hf"]) == ["export", "--source", ckpt,
                                                                             "--output_path", "hf"]
    assert translate(["export", f"path={ckpt}", "target=hf"]) == ["export", "--source", ckpt]

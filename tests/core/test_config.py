"""config.yaml loads into typed sections; typos and wrong types name the key; --set overrides any key."""
import pytest

from segue.config import DEFAULT_CONFIG_PATH, load_config
from segue.errors import SegueError


def test_the_shipped_config_loads_and_every_key_is_documented():
    cfg = load_config(DEFAULT_CONFIG_PATH)
    assert cfg.model.kind in ("performance_rnn", "gru_attention")
    text = DEFAULT_CONFIG_PATH.read_text().splitlines()
    keyed = [line for line in text if ":" in line and not line.lstrip().startswith("#")
             and not line.rstrip().endswith(":") and not line.lstrip().startswith("-")]
    undocumented = [line for line in keyed if "#" not in line]
    assert undocumented == []


def test_unknown_key_names_the_path_and_suggests(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  lrr: 0.1\n")
    with pytest.raises(SegueError, match=r"unknown key 'train\.lrr'.*did you mean 'lr'"):
        load_config(path)


def test_wrong_type_names_the_path(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  num_layers: three\n")
    with pytest.raises(SegueError, match=r"'model\.num_layers' must be int"):
        load_config(path)


def test_overrides_parse_values_as_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("")
    cfg = load_config(path, ["train.lr=0.001", "model.num_layers=2", "data.transpositions=[0, 1]"])
    assert cfg.train.lr == 0.001 and cfg.model.num_layers == 2 and cfg.data.transpositions == [0, 1]
    with pytest.raises(SegueError, match="did you mean 'model'"):
        load_config(path, ["modle.kind=x"])


def test_off_for_a_word_setting_is_the_word_not_a_boolean(tmp_path):
    # YAML 1.1 reads `off` as false; daemon.memory and daemon.on_beat take the word "off".
    path = tmp_path / "c.yaml"
    path.write_text("daemon:\n  memory: off\n")
    assert load_config(path).daemon.memory == "off"
    assert load_config(path, ["daemon.on_beat=off"]).daemon.on_beat == "off"


def test_invalid_yaml_says_where(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train: [\n")
    with pytest.raises(SegueError, match="not valid YAML"):
        load_config(path)


def test_exponent_floats_are_floats(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  min_lr: 1e-5\n")
    cfg = load_config(path, ["train.lr=1e-4"])
    assert cfg.train.lr == 1e-4 and cfg.train.min_lr == 1e-5
    with pytest.raises(SegueError, match=r"'train\.lr' must be float"):
        load_config(path, ["train.lr=fast"])

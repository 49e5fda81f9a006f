import numpy as np

from face3d import names


def test_counts_and_spelling():
    assert len(names.ICT_NAMES) == 53 and len(names.ARKIT_NAMES) == 52
    assert len(set(names.ict_target_names())) == 53
    assert "eyeBlinkLeft" in names.ARKIT_NAMES and "tongueOut" in names.ARKIT_NAMES
    assert names.ict_to_arkit_name("eyeBlink_L") == "eyeBlinkLeft"
    assert names.ict_to_arkit_name("browInnerUp_R") == "browInnerUp"
    assert names.ict_to_arkit_name("jawOpen") == "jawOpen"
    assert names.LIVELINK_COLUMNS[0] == "EyeBlinkLeft" and names.LIVELINK_COLUMNS[-1] == "TongueOut"


def test_every_arkit_name_but_tongue_has_an_ict_shape():
    mapped = {names.ict_to_arkit_name(n) for n in names.ICT_NAMES}
    assert set(names.ARKIT_NAMES) - mapped == {"tongueOut"}


def test_weights_round_trip():
    rng = np.random.default_rng(0)
    arkit = rng.random((4, 52)).astype(np.float32)
    arkit[:, names.ARKIT_NAMES.index("tongueOut")] = 0
    np.testing.assert_allclose(names.ict_to_arkit(names.arkit_to_ict(arkit)), arkit, atol=1e-6)
    ict = names.arkit_to_ict(arkit)
    assert ict[0, names.ICT_NAMES.index("browInnerUp_L")] == ict[0, names.ICT_NAMES.index("browInnerUp_R")]
    assert ict[0, names.ICT_NAMES.index("eyeBlink_L")] == arkit[0, names.ARKIT_NAMES.index("eyeBlinkLeft")]


def test_names_round_trip_through_target_names():
    for i, target in enumerate(names.ict_target_names()):
        assert names.parse_expression_name(target) == [i]
        assert names.parse_expression_name(names.ICT_NAMES[i]) == [i]
    assert len(names.parse_expression_name("cheekPuff")) == 2

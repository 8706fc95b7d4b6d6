"""The sample class (right, wrong, broken submissions with expected scores) and the adversarial
suite; attack cells live in ``attack_cells/`` as real Python."""

"""What a study compares. A *method* is one of the configured variants (a trained
network) or the bicubic baseline; scores, tables and figures are per method."""

BICUBIC = "bicubic"


def study_methods(variants) -> list[str]:
    """Every method of a study: the baseline first, then the variants in config order."""
    return [BICUBIC, *variants]

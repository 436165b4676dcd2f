import numpy as np
import pyarrow as pa
import pytest

from hmgray.families.valuation.data.decode import decode_batch
from hmgray.families.valuation.data.synth import generate_valuation


@pytest.fixture(scope="session")
def proof_data():
    """n = 2400 listings, all splits concatenated, decoded once for the proofs.

    Returns (table, batch, is_train); the proofs fit on train and evaluate on val+test.
    """
    tables = generate_valuation(2400, seed=11)
    table = pa.concat_tables([tables["train"], tables["val"], tables["test"]])
    is_train = np.arange(table.num_rows) < tables["train"].num_rows
    return table, decode_batch(table), is_train

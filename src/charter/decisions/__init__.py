"""The decision log: each automated decision with its inputs, output, explanation and later outcome."""

# torch.nn.utils.rnn.pad_sequence: MindSpore has none. Pads each sequence's first axis to the
# longest and stacks them (time-major unless batch_first).
import mindspore


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side='right'):
    """torch.nn.utils.rnn.pad_sequence(sequences, batch_first, padding_value, padding_side)."""
    longest = max(s.shape[0] for s in sequences)
    padded = []
    for s in sequences:
        extra = longest - s.shape[0]
        pads = (0, 0) * (s.ndim - 1) + ((0, extra) if padding_side == 'right' else (extra, 0))
        padded.append(mindspore.ops.pad(s, pads, value=padding_value))
    return mindspore.ops.stack(padded, 0 if batch_first else 1)

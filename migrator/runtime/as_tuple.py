# A layer argument torch takes as any sequence and MindSpore only as a tuple (LSTM's (h, c) state).


def ms_as_tuple(value):
    """torch's LSTM takes its state `(h, c)` as a list too (`[s.detach() for s in states]`);
    MindSpore's checks for a tuple. A list becomes a tuple; anything else is passed on."""
    return tuple(value) if isinstance(value, list) else value

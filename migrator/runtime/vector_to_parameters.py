# torch.nn.utils.vector_to_parameters: copies slices of one flat vector into the parameters.
import mindspore


def vector_to_parameters(vec, parameters):
    """torch.nn.utils.vector_to_parameters(vec, parameters): each Parameter takes its slice."""
    start = 0
    for p in parameters:
        n = p.size
        p.set_data(vec[start:start + n].reshape(p.shape).astype(p.dtype))
        start += n

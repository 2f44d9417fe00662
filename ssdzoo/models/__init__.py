"""Models: layers, backbone registry, cutting and alignment, heads, the SSD graph, builders,
decoding, weights and transfer."""

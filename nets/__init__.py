"""The networks of the ResNet post's companion articles, in tf-slim's pattern.

`nets_factory.get_network_fn(name, ...)` returns any of them by name.
"""

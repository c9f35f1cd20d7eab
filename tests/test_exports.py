import types

import ecomflow
import ecomflow.flows
import ecomflow.store


def test_all_is_sorted_and_complete():
    for module in (ecomflow, ecomflow.flows, ecomflow.store):
        names = [n for n in module.__all__ if n != "__version__"]
        assert names == sorted(names, key=lambda n: (not n.isupper(), n))
        for name in module.__all__:
            assert hasattr(module, name), name
        public = {
            n
            for n, v in vars(module).items()
            if not n.startswith("_")
            and not isinstance(v, types.ModuleType)
            and getattr(v, "__module__", "ecomflow").startswith("ecomflow")
        }
        exported = set(module.__all__)
        assert public - exported <= {"annotations"}, public - exported


def test_every_public_object_has_a_docstring():
    for name in ecomflow.__all__:
        obj = getattr(ecomflow, name)
        if callable(obj) and not isinstance(obj, type(ecomflow.Clock)):
            assert obj.__doc__, name

"""Model backends: one module per inference protocol behind one interface (:mod:`.base`):
the Open Inference Protocol (:mod:`.oip`), the Label Studio ML backend protocol (:mod:`.lsml`) and
the built-in face detector (:mod:`.builtin_face`); :func:`.adapters.adapter_for` picks one."""

"""export: ONNX / OpenVINO export routes and the export cache."""

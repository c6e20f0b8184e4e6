arca bench get --size 1MiB --concurrency 16 --objects 256 --duration 15

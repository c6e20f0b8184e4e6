arca bench get --size 4KiB --concurrency 64 --duration 15

arca bench get --size 4KiB --concurrency 1 --duration 15

arca bench put --size 4KiB --concurrency 64 --duration 15

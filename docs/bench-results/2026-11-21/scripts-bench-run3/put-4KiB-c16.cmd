arca bench put --size 4KiB --concurrency 16 --duration 15

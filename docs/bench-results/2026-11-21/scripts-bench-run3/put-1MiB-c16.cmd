arca bench put --size 1MiB --concurrency 16 --duration 15

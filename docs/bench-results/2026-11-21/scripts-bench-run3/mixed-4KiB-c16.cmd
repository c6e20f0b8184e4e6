arca bench mixed --size 4KiB --concurrency 16 --objects 1000 --duration 15

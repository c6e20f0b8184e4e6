arca bench put --size 1GiB --concurrency 1 --count 1

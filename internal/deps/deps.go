package deps
import (
 _ "github.com/twmb/franz-go/pkg/kgo"
 _ "github.com/twmb/franz-go/pkg/kmsg"
 _ "github.com/twmb/franz-go/pkg/kadm"
 _ "github.com/twmb/franz-go/pkg/kerr"
 _ "github.com/twmb/franz-go/pkg/kversion"
 _ "github.com/klauspost/compress/zstd"
 _ "github.com/klauspost/compress/s2"
 _ "github.com/pierrec/lz4/v4"
 _ "github.com/spf13/cobra"
 _ "github.com/IBM/sarama"
 _ "github.com/segmentio/kafka-go"
 _ "github.com/twmb/franz-go/pkg/kfake"
)

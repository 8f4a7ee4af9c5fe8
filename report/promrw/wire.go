package promrw

// wire.go encodes and decodes the remote-write 1.0 protobuf messages
// (prometheus/prometheus prompb/remote.proto and types.proto) with
// protowire: the four messages wsbench needs are a few dozen lines, where
// the generated prompb package would pull the Prometheus module and gogo
// protobuf into the binary.

import (
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// Label is one name=value pair of a series.
type Label struct{ Name, Value string }

// Sample is one value at a time in milliseconds since the Unix epoch.
type Sample struct {
	Value     float64
	Timestamp int64
}

// TimeSeries is one series: labels sorted by name (__name__ first among
// them as "__" sorts before letters), and its samples.
type TimeSeries struct {
	Labels  []Label
	Samples []Sample
}

// Field numbers of remote.proto / types.proto.
const (
	fieldWriteTimeseries = 1 // WriteRequest.timeseries
	fieldSeriesLabels    = 1 // TimeSeries.labels
	fieldSeriesSamples   = 2 // TimeSeries.samples
	fieldLabelName       = 1
	fieldLabelValue      = 2
	fieldSampleValue     = 1 // double
	fieldSampleTimestamp = 2 // int64
)

// EncodeWriteRequest returns the protobuf encoding of a WriteRequest
// holding series (not yet snappy-compressed).
func EncodeWriteRequest(series []TimeSeries) []byte {
	var b, ts, msg []byte
	for _, s := range series {
		ts = ts[:0]
		for _, l := range s.Labels {
			msg = msg[:0]
			msg = protowire.AppendTag(msg, fieldLabelName, protowire.BytesType)
			msg = protowire.AppendString(msg, l.Name)
			msg = protowire.AppendTag(msg, fieldLabelValue, protowire.BytesType)
			msg = protowire.AppendString(msg, l.Value)
			ts = protowire.AppendTag(ts, fieldSeriesLabels, protowire.BytesType)
			ts = protowire.AppendBytes(ts, msg)
		}
		for _, smp := range s.Samples {
			msg = msg[:0]
			msg = protowire.AppendTag(msg, fieldSampleValue, protowire.Fixed64Type)
			msg = protowire.AppendFixed64(msg, math.Float64bits(smp.Value))
			msg = protowire.AppendTag(msg, fieldSampleTimestamp, protowire.VarintType)
			msg = protowire.AppendVarint(msg, uint64(smp.Timestamp))
			ts = protowire.AppendTag(ts, fieldSeriesSamples, protowire.BytesType)
			ts = protowire.AppendBytes(ts, msg)
		}
		b = protowire.AppendTag(b, fieldWriteTimeseries, protowire.BytesType)
		b = protowire.AppendBytes(b, ts)
	}
	return b
}

// DecodeWriteRequest parses the protobuf encoding of a WriteRequest (not
// snappy-compressed), keeping the series and skipping other fields. It
// serves tests and debugging receivers.
func DecodeWriteRequest(b []byte) ([]TimeSeries, error) {
	var out []TimeSeries
	err := fields(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if num != fieldWriteTimeseries || typ != protowire.BytesType {
			return nil
		}
		var s TimeSeries
		err := fields(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
			switch {
			case num == fieldSeriesLabels && typ == protowire.BytesType:
				var l Label
				err := fields(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
					switch num {
					case fieldLabelName:
						l.Name = string(v)
					case fieldLabelValue:
						l.Value = string(v)
					}
					return nil
				})
				s.Labels = append(s.Labels, l)
				return err
			case num == fieldSeriesSamples && typ == protowire.BytesType:
				var smp Sample
				err := fields(v, func(num protowire.Number, typ protowire.Type, _ []byte, n uint64) error {
					switch {
					case num == fieldSampleValue && typ == protowire.Fixed64Type:
						smp.Value = math.Float64frombits(n)
					case num == fieldSampleTimestamp && typ == protowire.VarintType:
						smp.Timestamp = int64(n)
					}
					return nil
				})
				s.Samples = append(s.Samples, smp)
				return err
			}
			return nil
		})
		out = append(out, s)
		return err
	})
	return out, err
}

// fields calls f for every field of the message b: v holds the bytes of a
// length-delimited field, n the value of a varint or fixed field.
func fields(b []byte, f func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error) error {
	for len(b) > 0 {
		num, typ, k := protowire.ConsumeTag(b)
		if k < 0 {
			return fmt.Errorf("remote write: bad tag: %w", protowire.ParseError(k))
		}
		b = b[k:]
		var v []byte
		var n uint64
		switch typ {
		case protowire.BytesType:
			v, k = protowire.ConsumeBytes(b)
		case protowire.VarintType:
			n, k = protowire.ConsumeVarint(b)
		case protowire.Fixed64Type:
			n, k = protowire.ConsumeFixed64(b)
		case protowire.Fixed32Type:
			var n32 uint32
			n32, k = protowire.ConsumeFixed32(b)
			n = uint64(n32)
		default:
			k = protowire.ConsumeFieldValue(num, typ, b)
		}
		if k < 0 {
			return fmt.Errorf("remote write: field %d: %w", num, protowire.ParseError(k))
		}
		b = b[k:]
		if err := f(num, typ, v, n); err != nil {
			return err
		}
	}
	return nil
}

package transport

import (
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/quic-go/quic-go"
)

// BenchmarkRawQUIC is the floor under this transport: quic-go alone, one
// stream per call, 64 bytes each way, no framing, header or codec.
func BenchmarkRawQUIC(b *testing.B) {
	for _, n := range benchConcurrency {
		b.Run(fmt.Sprintf("callers=%d", n), func(b *testing.B) {
			srvTLS, cliTLS := fleetTLS(b, "server"), fleetTLS(b, "client")
			conf := quicConfig(1024, DefaultKeepAlive, DefaultIdleTimeout, DefaultHandshakeTimeout)
			conf.RequireStreamCreditRelease = false // plain quic-go: credit returns per stream
			ln, err := quic.ListenAddr("127.0.0.1:0", serverTLS(srvTLS, quiet), conf)
			if err != nil {
				b.Fatal(err)
			}
			go func() {
				for {
					conn, err := ln.Accept(context.Background())
					if err != nil {
						return
					}
					go func() {
						for {
							st, err := conn.AcceptStream(context.Background())
							if err != nil {
								return
							}
							go func() {
								buf, _ := io.ReadAll(st)
								st.Write(buf)
								st.Close()
							}()
						}
					}()
				}
			}()
			conn, err := quic.DialAddr(context.Background(), ln.Addr().String(), clientTLS(cliTLS, "server"), quicConfig(-1, DefaultKeepAlive, DefaultIdleTimeout, DefaultHandshakeTimeout))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { conn.CloseWithError(0, ""); ln.Close() })
			body := make([]byte, 64)
			runCallers(b, n, func(ctx context.Context) error {
				st, err := conn.OpenStreamSync(ctx)
				if err != nil {
					return err
				}
				st.Write(body)
				st.Close()
				out, err := io.ReadAll(st)
				if err != nil {
					return err
				}
				if len(out) != 64 {
					return fmt.Errorf("got %d bytes", len(out))
				}
				return nil
			}, func() uint64 {
				st := conn.ConnectionStats()
				return st.PacketsSent + st.PacketsReceived
			})
		})
	}
}

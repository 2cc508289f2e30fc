package redistest

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mongotide/mongotide/internal/testenv"
	"github.com/redis/go-redis/v9"
)

// Cluster is a Redis Cluster of real redis-server processes owned by one
// test: masters only, slots spread evenly by redis-cli --cluster create.
type Cluster struct {
	Addrs   []string
	Servers []*Server
}

// StartCluster launches masters redis-server processes in cluster mode,
// joins them with redis-cli --cluster create and waits for cluster_state:ok.
// Everything stops in tb.Cleanup.
func StartCluster(tb testing.TB, masters int) *Cluster {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		testenv.MissingPrecondition(tb, "redis-server not installed: apt-get install -y redis-server")
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		testenv.MissingPrecondition(tb, "redis-cli not installed: apt-get install -y redis-tools")
	}
	dir := tb.TempDir()
	c := &Cluster{}
	for range masters {
		srv, err := launch(bin, "--cluster-enabled", "yes", "--dir", dir,
			"--cluster-config-file", "nodes-{port}.conf", "--cluster-node-timeout", "2000")
		if err != nil {
			tb.Fatalf("redistest: cluster node: %v", err)
		}
		tb.Cleanup(srv.stop)
		c.Servers = append(c.Servers, srv)
		c.Addrs = append(c.Addrs, srv.Addr)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	out, err := exec.Command(cli, append(args, "--cluster-yes")...).CombinedOutput()
	if err != nil {
		tb.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for _, addr := range c.Addrs {
		client := redis.NewClient(&redis.Options{Addr: addr})
		for {
			info, err := client.ClusterInfo(ctx).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if ctx.Err() != nil {
				client.Close()
				tb.Fatalf("redistest: cluster node %s not ok within %v: %v %s", addr, startTimeout, err, info)
			}
			time.Sleep(20 * time.Millisecond) // polling the cluster's own convergence; no event to wait on
		}
		client.Close()
	}
	return c
}

// Client returns a cluster client, closed in tb.Cleanup.
func (c *Cluster) Client(tb testing.TB) *redis.ClusterClient {
	tb.Helper()
	client := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs})
	tb.Cleanup(func() { _ = client.Close() })
	return client
}

// String names the cluster's nodes.
func (c *Cluster) String() string { return fmt.Sprintf("cluster %v", c.Addrs) }

//go:build !linux

package main

import "errors"

const currentNetns = "-"

func netnsPath(arg string) string { return arg }

func checkNetns(arg string) error {
	if arg == currentNetns {
		return nil
	}
	return errors.New("network namespaces need Linux")
}

func inNetns(arg string, create func() error) error {
	if err := checkNetns(arg); err != nil {
		return err
	}
	return create()
}

func isStuck(error) bool { return false }

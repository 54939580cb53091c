"""seqcnn.train"""
